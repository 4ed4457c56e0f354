"""A local single-node Kafka broker (KRaft) for development, tests and `make run`.

The broker's jars come from Maven Central through `mvn` (deploy/kafka/pom.xml) into .cache/kafka/<version>/libs,
so a fresh machine needs only a JDK, Maven and the registry. The broker runs as a background `java` process
whose PID is kept in <data dir>/broker.pid; `stop` signals that PID only, never a process found by name.

Usage: python -m streams.broker start|stop|status|jars [--port N] [--controller-port N] [--dir PATH] [--version V]
(exit status: 0 ok, 1 error, 3 for `status` when the broker is not running).
Environment: NEWSFLOW_BROKER_PORT (9092), NEWSFLOW_BROKER_CONTROLLER_PORT (port + 1), NEWSFLOW_BROKER_DIR
(var/kafka), NEWSFLOW_KAFKA_VERSION (DEFAULT_KAFKA_VERSION), NEWSFLOW_BROKER_HEAP (-Xmx512m).

Nothing here imports Faust; aiokafka is imported only by the functions that talk to the broker.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent
KAFKA_DEPLOY_DIR = REPO_ROOT / "deploy" / "kafka"
POM = KAFKA_DEPLOY_DIR / "pom.xml"
SERVER_PROPERTIES_TEMPLATE = KAFKA_DEPLOY_DIR / "server.properties"
LOG4J_CONFIG = KAFKA_DEPLOY_DIR / "log4j2.properties"
JAR_CACHE = REPO_ROOT / ".cache" / "kafka"

DEFAULT_KAFKA_VERSION = "4.4.0"
DEFAULT_PORT = 9092
DEFAULT_DATA_DIR = REPO_ROOT / "var" / "kafka"
DEFAULT_HEAP = "-Xmx512m"
# Written last by fetch_jars: a libs folder without it is an interrupted download and is fetched again.
JARS_COMPLETE_STAMP = ".complete"
BROKER_MAIN_CLASS = "kafka.Kafka"


class BrokerError(RuntimeError):
    """The local broker could not be fetched, started, reached or stopped; the message says why."""


class BrokerUnreachable(BrokerError):
    """No broker answered at the bootstrap address (it may still be starting: callers may retry)."""

    def __init__(self, bootstrap: str, cause: BaseException) -> None:
        super().__init__(f"cannot reach Kafka at {bootstrap} (KAFKA_BOOTSTRAP): {cause}")


async def _started_admin(bootstrap: str, timeout_s: float) -> Any:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    try:
        await admin.start()
    except (KafkaError, OSError) as exc:
        await admin.close()
        raise BrokerUnreachable(bootstrap, exc) from None
    return admin


@dataclass(frozen=True)
class BrokerConfig:
    port: int = DEFAULT_PORT
    controller_port: int = DEFAULT_PORT + 1
    data_dir: Path = DEFAULT_DATA_DIR
    version: str = DEFAULT_KAFKA_VERSION
    heap: str = DEFAULT_HEAP

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> "BrokerConfig":
        """Settings from NEWSFLOW_BROKER_* / NEWSFLOW_KAFKA_VERSION; non-None overrides win."""
        env = os.environ if env is None else env

        def pick(key: str, name: str, default):
            value = overrides.get(key)
            if value is not None:
                return value
            raw = env.get(name, "")
            return raw if raw != "" else default

        port = _as_port(pick("port", "NEWSFLOW_BROKER_PORT", DEFAULT_PORT), "NEWSFLOW_BROKER_PORT")
        controller_port = _as_port(
            pick("controller_port", "NEWSFLOW_BROKER_CONTROLLER_PORT", port + 1), "NEWSFLOW_BROKER_CONTROLLER_PORT"
        )
        if controller_port == port:
            raise BrokerError(f"the controller port must differ from the client port ({port})")
        data_dir = Path(pick("data_dir", "NEWSFLOW_BROKER_DIR", DEFAULT_DATA_DIR))
        if not data_dir.is_absolute():
            data_dir = REPO_ROOT / data_dir
        version = str(pick("version", "NEWSFLOW_KAFKA_VERSION", DEFAULT_KAFKA_VERSION))
        heap = str(pick("heap", "NEWSFLOW_BROKER_HEAP", DEFAULT_HEAP))
        return cls(port=port, controller_port=controller_port, data_dir=data_dir, version=version, heap=heap)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "broker.log"

    @property
    def properties_file(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def log_dirs(self) -> Path:
        return self.data_dir / "data"


def free_loopback_ports(count: int) -> list[int]:
    """`count` distinct ports free on 127.0.0.1 right now (bound together, so never the same one twice)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _as_port(value, name: str) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise BrokerError(f"{name}={value!r} is not a port number") from None
    if not 0 < port < 65536:
        raise BrokerError(f"{name}={port} is outside 1..65535")
    return port


# ---------------------------------------------------------------------------------------------- jars


def libs_dir(version: str) -> Path:
    return JAR_CACHE / version / "libs"


def fetch_jars(version: str = DEFAULT_KAFKA_VERSION, *, quiet: bool = True) -> Path:
    """Copy the broker's runtime jars for `version` into the cache; instant when they are already there."""
    target = libs_dir(version)
    stamp = target / JARS_COMPLETE_STAMP
    if stamp.is_file():
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError("Maven (`mvn`) is not on PATH; install it (Debian: apt-get install maven) to fetch Kafka")
    if shutil.which("java") is None:
        raise BrokerError("`java` is not on PATH; Kafka 4 needs a JDK 17 or newer (Debian: openjdk-17-jre-headless)")
    # Copy into a fresh sibling folder and rename it in place, so an interrupted run leaves no half folder behind.
    partial = target.with_name(f"libs.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    cmd = [
        mvn, "-B", "-f", str(POM), f"-Dkafka.version={version}",
        "dependency:copy-dependencies", f"-DoutputDirectory={partial}",
    ]
    if quiet:
        cmd.insert(1, "-q")
    print(f"newsflow broker: fetching Kafka {version} jars with Maven into {target}", file=sys.stderr)
    result = subprocess.run(cmd, capture_output=quiet, text=True)
    if result.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        detail = (result.stdout or "")[-3000:] + (result.stderr or "")[-2000:] if quiet else ""
        raise BrokerError(f"mvn could not fetch org.apache.kafka:kafka_2.13:{version}:\n{detail}")
    if not any(partial.glob("kafka_2.13-*.jar")):
        shutil.rmtree(partial, ignore_errors=True)
        raise BrokerError(f"mvn finished but {partial} has no kafka_2.13 jar")
    (partial / JARS_COMPLETE_STAMP).write_text(version + "\n")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def _classpath(libs: Path) -> str:
    return str(libs / "*")


# -------------------------------------------------------------------------------------------- config


def render_server_properties(config: BrokerConfig) -> str:
    template = string.Template(SERVER_PROPERTIES_TEMPLATE.read_text())
    return template.substitute(
        port=config.port, controller_port=config.controller_port, log_dirs=str(config.log_dirs)
    )


def write_server_properties(config: BrokerConfig) -> Path:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    config.properties_file.write_text(render_server_properties(config))
    return config.properties_file


def _java_command(config: BrokerConfig, libs: Path, main_class: str, *args: str) -> list[str]:
    return [
        "java",
        config.heap,
        "-Xms128m",
        # Serial GC: the least CPU and memory overhead, right for a lightly loaded broker on 2 shared cores.
        "-XX:+UseSerialGC",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        f"-Dkafka.logs.dir={config.data_dir / 'logs'}",
        "-cp",
        _classpath(libs),
        main_class,
        *args,
    ]


def format_storage(config: BrokerConfig, libs: Path) -> None:
    """Format the KRaft log dir once (a single-node dynamic quorum); a formatted dir is left as it is."""
    if (config.log_dirs / "meta.properties").is_file():
        return
    cluster_id = _random_cluster_id()
    cmd = _java_command(
        config, libs, "kafka.tools.StorageTool",
        "format", "--standalone", "--config", str(config.properties_file), "--cluster-id", cluster_id,
    )
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise BrokerError(f"kafka StorageTool format failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


def _random_cluster_id() -> str:
    # Kafka's cluster ids are 16 random bytes in URL-safe base64 without padding (what `kafka-storage random-uuid` prints).
    # One in 64 of those starts with "-", which StorageTool's argument parser takes for an option
    # ("--cluster-id: expected one argument"); Kafka's own Uuid.randomUuid draws again in that case.
    import base64

    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


# ----------------------------------------------------------------------------------------- processes


def read_pid(config: BrokerConfig) -> int | None:
    try:
        return int(config.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _is_our_broker(pid: int, config: BrokerConfig) -> bool:
    """True when `pid` is alive and is a kafka.Kafka started with this data dir's server.properties.

    Guards against a stale pidfile whose PID now belongs to another process.
    """
    cmd = _cmdline(pid)
    if not cmd:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    if state == "Z":
        return False
    return BROKER_MAIN_CLASS in cmd and str(config.properties_file) in cmd


def running_pid(config: BrokerConfig) -> int | None:
    pid = read_pid(config)
    if pid is not None and _is_our_broker(pid, config):
        return pid
    return None


def _version_of(pid: int) -> str | None:
    for part in _cmdline(pid):
        match = re.search(r"kafka/([^/]+)/libs/\*$", part)
        if match:
            return match.group(1)
    return None


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    return "\n".join(text.splitlines()[-lines:])


def start(config: BrokerConfig, *, timeout: float = 90.0, die_with_parent: bool = False) -> dict:
    """Start the broker in the background (or find it running) and wait until it answers Kafka requests.

    die_with_parent: the kernel sends the broker SIGTERM when the calling process dies, so a test session
    that is killed (and cannot run its teardown) leaves no broker behind. Off for `newsflow broker start`,
    whose broker must outlive the command.
    """
    pid = running_pid(config)
    if pid is not None:
        wait_until_ready(config, timeout=timeout, pid=pid)
        return status(config)
    for port in (config.port, config.controller_port):
        if _port_in_use(port):
            raise BrokerError(
                f"127.0.0.1:{port} is already in use by another process; choose other ports "
                "(NEWSFLOW_BROKER_PORT / NEWSFLOW_BROKER_CONTROLLER_PORT) or stop that process"
            )
    libs = fetch_jars(config.version)
    write_server_properties(config)
    format_storage(config, libs)
    cmd = _java_command(config, libs, BROKER_MAIN_CLASS, str(config.properties_file))
    with open(config.log_file, "ab") as log:
        log.write(f"\n=== newsflow broker start {time.strftime('%Y-%m-%dT%H:%M:%S')} ===\n".encode())
        log.flush()
        # Own session: Ctrl-C in the terminal that started it does not reach the broker; `stop` does.
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=config.data_dir, start_new_session=True,
            preexec_fn=terminate_when_parent_dies if die_with_parent else None,
        )
    config.pid_file.write_text(f"{proc.pid}\n")
    try:
        wait_until_ready(config, timeout=timeout, pid=proc.pid, proc=proc)
    except BaseException:
        stop(config)
        raise
    return status(config)


def terminate_when_parent_dies() -> None:
    """Popen preexec_fn (Linux): the child gets SIGTERM when the process that started it dies."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def wait_until_ready(
    config: BrokerConfig, *, timeout: float = 90.0, pid: int | None = None, proc: subprocess.Popen | None = None
) -> None:
    """Wait until the broker answers a metadata request and lists itself; raise with the log's tail if not."""
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BrokerError(
                f"the Kafka broker exited with code {proc.returncode} while starting; "
                f"last lines of {config.log_file}:\n{tail(config.log_file)}"
            )
        if proc is None and pid is not None and not _is_our_broker(pid, config):
            raise BrokerError(f"the Kafka broker (pid {pid}) is gone; last lines of {config.log_file}:\n{tail(config.log_file)}")
        if _port_in_use(config.port):
            try:
                asyncio.run(_probe(config.bootstrap, timeout=min(10.0, max(1.0, deadline - time.monotonic()))))
                return
            except Exception as exc:  # not ready yet: the controller may still be electing itself
                last_error = f"{type(exc).__name__}: {exc}"
        time.sleep(0.25)
    raise BrokerError(
        f"the Kafka broker at {config.bootstrap} did not answer within {timeout:.0f} s ({last_error}); "
        f"last lines of {config.log_file}:\n{tail(config.log_file)}"
    )


async def _probe(bootstrap: str, *, timeout: float) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout)
        cluster = await asyncio.wait_for(admin.describe_cluster(), timeout)
        if not cluster.get("brokers"):
            raise BrokerError("the broker lists no brokers yet")
    finally:
        await admin.close()


def stop(config: BrokerConfig, *, timeout: float = 30.0) -> bool:
    """Stop the broker whose PID is in the pidfile: SIGTERM, then SIGKILL after `timeout`. False if none ran."""
    pid = read_pid(config)
    if pid is None or not _is_our_broker(pid, config):
        config.pid_file.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _reap(pid):
            break
        time.sleep(0.1)
    else:
        print(f"newsflow broker: pid {pid} ignored SIGTERM for {timeout:.0f} s, sending SIGKILL", file=sys.stderr)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        while not _reap(pid):
            time.sleep(0.1)
    config.pid_file.unlink(missing_ok=True)
    return True


def _reap(pid: int) -> bool:
    """True once `pid` has exited; collects it when it is our own child so it leaves no zombie."""
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return True
    except ChildProcessError:
        pass  # not our child: only look whether it is still there
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    if state != "Z":
        return False
    # Exited between the two looks: collect it now if it is our child, so no zombie keeps its PID.
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    return True


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    pid: int | None
    bootstrap: str
    version: str
    data_dir: str
    log_file: str


def status(config: BrokerConfig) -> dict:
    pid = running_pid(config)
    version = (_version_of(pid) if pid else None) or config.version
    return asdict(
        BrokerStatus(
            running=pid is not None, pid=pid, bootstrap=config.bootstrap, version=version,
            data_dir=str(config.data_dir), log_file=str(config.log_file),
        )
    )


# -------------------------------------------------------------------------------------------- topics


async def create_topics(
    bootstrap: str,
    topics: Mapping[str, tuple[int, Mapping[str, str] | None]],
    *,
    replication_factor: int = 1,
    timeout_s: float = 30.0,
) -> list[str]:
    """Create the missing topics; check that existing ones have the expected partition count.

    `topics` maps name -> (partitions, topic config or None). Returns the names it created. Raises BrokerError
    naming every existing topic whose partition count differs: a changed count would move keys between
    partitions and break per-key state, so it is never "fixed" silently.
    """
    from aiokafka.admin import NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = await _started_admin(bootstrap, timeout_s)
    try:
        existing = await _partition_counts(admin)
        mismatched = [
            f"{name} has {existing[name]} partitions, expected {partitions}"
            for name, (partitions, _) in topics.items()
            if name in existing and existing[name] != partitions
        ]
        if mismatched:
            raise BrokerError(
                "existing topics differ from the expected layout: " + "; ".join(mismatched)
                + " (delete and recreate them, or set the expected partition count to match)"
            )
        missing = [
            NewTopic(
                name=name, num_partitions=partitions, replication_factor=replication_factor,
                topic_configs=dict(topic_config or {}),
            )
            for name, (partitions, topic_config) in topics.items()
            if name not in existing
        ]
        if not missing:
            return []
        response = await admin.create_topics(missing, timeout_ms=int(timeout_s * 1000))
        created, failures = [], []
        for name, code, message in _topic_errors(response):
            if code == 0:
                created.append(name)
            elif code == TopicAlreadyExistsError.errno:
                pass  # created concurrently by another process: checked below like any existing topic
            else:
                failures.append(f"{name}: error {code} {message or ''}".strip())
        if failures:
            raise BrokerError("could not create topics: " + "; ".join(failures))
        # Metadata may lag a moment behind CreateTopics; wait until every topic is visible with its partitions.
        await _wait_for_topics(admin, {name: p for name, (p, _) in topics.items()}, timeout_s)
        return created
    finally:
        await admin.close()


def _topic_errors(response) -> list[tuple[str, int, str | None]]:
    rows = []
    for entry in response.topic_errors:
        name, code = entry[0], entry[1]
        message = entry[2] if len(entry) > 2 else None
        rows.append((name, code, message))
    return rows


async def delete_topics(bootstrap: str, names: list[str], *, timeout_s: float = 30.0) -> list[str]:
    """Delete those of `names` that exist; returns the names deleted (for tools that made scratch topics)."""
    admin = await _started_admin(bootstrap, timeout_s)
    try:
        existing = [name for name in names if name in await _partition_counts(admin)]
        if existing:
            await admin.delete_topics(existing, timeout_ms=int(timeout_s * 1000))
        return existing
    finally:
        await admin.close()


async def _partition_counts(admin) -> dict[str, int]:
    metadata = await admin.describe_topics()
    return {
        topic["topic"]: len(topic["partitions"])
        for topic in metadata
        if topic.get("error_code", 0) == 0
    }


async def _wait_for_topics(admin, expected: Mapping[str, int], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        counts = await _partition_counts(admin)
        if all(counts.get(name) == partitions for name, partitions in expected.items()):
            return
        if time.monotonic() > deadline:
            missing = {name: counts.get(name) for name in expected if counts.get(name) != expected[name]}
            raise BrokerError(f"topics not visible with their partitions after {timeout_s:.0f} s: {missing}")
        await asyncio.sleep(0.1)


# ----------------------------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newsflow broker", description="Run a local single-node Kafka broker.")
    parser.add_argument("command", choices=["start", "stop", "status", "jars"])
    parser.add_argument("--port", type=int, default=None, help="client port (NEWSFLOW_BROKER_PORT, default 9092)")
    parser.add_argument("--controller-port", type=int, default=None,
                        help="KRaft controller port (NEWSFLOW_BROKER_CONTROLLER_PORT, default port + 1)")
    parser.add_argument("--dir", dest="data_dir", default=None, help="data dir (NEWSFLOW_BROKER_DIR, default var/kafka)")
    parser.add_argument("--version", default=None, help=f"Kafka version (NEWSFLOW_KAFKA_VERSION, default {DEFAULT_KAFKA_VERSION})")
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for start or stop")
    parser.add_argument("--json", action="store_true", help="print status as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = BrokerConfig.from_env(
            port=args.port, controller_port=args.controller_port, data_dir=args.data_dir, version=args.version
        )
        if args.command == "jars":
            print(fetch_jars(config.version))
            return 0
        if args.command == "start":
            already = running_pid(config)
            started_at = time.monotonic()
            info = start(config, timeout=args.timeout)
            verb = "already running" if already else f"started in {time.monotonic() - started_at:.1f} s"
            print(f"Kafka {info['version']} {verb}: bootstrap {info['bootstrap']}, pid {info['pid']}, log {info['log_file']}")
            return 0
        if args.command == "stop":
            pid = read_pid(config)
            if stop(config, timeout=args.timeout):
                print(f"Kafka broker (pid {pid}) stopped")
            else:
                print(f"no Kafka broker running for {config.data_dir}")
            return 0
        info = status(config)
        if args.json:
            print(json.dumps(info))
        elif info["running"]:
            print(f"running: Kafka {info['version']}, pid {info['pid']}, bootstrap {info['bootstrap']}, log {info['log_file']}")
        else:
            print(f"not running (data dir {info['data_dir']})")
        return 0 if info["running"] else 3
    except BrokerError as exc:
        print(f"newsflow broker: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
