"""Shared fixtures: a real Kafka broker for the tests marked `kafka`, and unique topic names.

KAFKA_BOOTSTRAP set: the tests use that broker as it is. Unset: the first test that asks for
`kafka_bootstrap` starts a local broker (streams.broker) on free loopback ports with a temporary data dir;
it is stopped by PID at the end of the session, also when tests fail. The broker is also told to die with
this process, so a killed pytest leaves no broker behind.
"""
from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import pytest

from streams import broker
from tests.workers import Worker, stack_env


def local_broker_config(data_dir: Path) -> broker.BrokerConfig:
    """A broker on free loopback ports with its data in `data_dir` (version from NEWSFLOW_KAFKA_VERSION)."""
    port, controller_port = broker.free_loopback_ports(2)
    return broker.BrokerConfig.from_env(port=port, controller_port=controller_port, data_dir=data_dir)


@pytest.fixture
def broker_config_factory(tmp_path):
    """Make configs for extra brokers a test starts itself (each on its own free ports and data dir)."""
    made = 0

    def make() -> broker.BrokerConfig:
        nonlocal made
        made += 1
        return local_broker_config(tmp_path / f"kafka-{made}")

    return make


@pytest.fixture(scope="session")
def local_broker(tmp_path_factory) -> broker.BrokerConfig | None:
    """The broker this session started, or None when KAFKA_BOOTSTRAP names an outside one."""
    if os.environ.get("KAFKA_BOOTSTRAP"):
        yield None
        return
    config = local_broker_config(tmp_path_factory.mktemp("kafka"))
    broker.start(config, timeout=120, die_with_parent=True)
    try:
        yield config
    finally:
        broker.stop(config)


@pytest.fixture(scope="session")
def kafka_bootstrap(local_broker) -> str:
    """host:port of a running Kafka broker."""
    return local_broker.bootstrap if local_broker is not None else os.environ["KAFKA_BOOTSTRAP"]


@pytest.fixture
def fresh_topic_prefix() -> str:
    """A prefix no other test (or earlier run against the same broker) uses: `f"{prefix}.raw"` etc."""
    return f"t{uuid.uuid4().hex[:12]}"


CRASH_CODES = {-signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS, -signal.SIGFPE, -signal.SIGILL}


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # Each phase's report on the test item, so a fixture's teardown can see whether the test failed.
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def stack(request, kafka_bootstrap, fresh_topic_prefix, tmp_path):
    """One isolated deployment (app id, topics); workers started through it are stopped at the end.
    When the test failed, the end of each worker's log is printed (pytest shows it with the failure:
    a CI run leaves nothing else behind)."""
    env = stack_env(kafka_bootstrap, fresh_topic_prefix)
    workers: list[Worker] = []

    class Stack:
        prefix = fresh_topic_prefix
        bootstrap = kafka_bootstrap

        @staticmethod
        def worker(name: str = "w1", data_dir: Path | None = None, **extra: str) -> Worker:
            w = Worker(env | extra, data_dir or tmp_path / name, tmp_path / f"{name}.log").start()
            workers.append(w)
            return w

    yield Stack
    for w in workers:
        w.kill()
    call = getattr(request.node, "report_call", None)
    if call is None or call.failed:
        for w in workers:
            print(f"--- the last lines of {w.log_path.name} (exit {w.proc.returncode if w.proc else None})")
            print(w.log_tail(40))
    # Whatever the test asserted: a worker that ended by a crash signal (not by the SIGKILL above,
    # nor by its own exit) is a bug, as a segfault while stopping was.
    crashed = [(w.log_path.name, w.proc.returncode) for w in workers
               if w.proc is not None and w.proc.returncode in CRASH_CODES]
    assert not crashed, f"worker(s) crashed: {crashed}"
