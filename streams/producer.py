"""`newsflow produce` and `newsflow tail`: plain aiokafka clients for feeding and reading topics."""
from __future__ import annotations

import asyncio
import base64
import os
import sys
from typing import Iterable

import orjson

from .config import Settings
from .records import Rejection, parse_raw


def _count_lines(paths: Iterable[str]) -> int:
    total = 0
    for path in paths:
        with open(path, "rb") as f:
            total += sum(1 for line in f if line.strip())
    return total


async def _start(client) -> None:
    # A client that cannot start is closed at once, so the caller's error is the only output.
    try:
        await client.start()
    except BaseException:
        await client.stop()
        raise


async def produce_files(settings: Settings, paths: Iterable[str], topic: str, *, check: bool = True) -> dict:
    """Send every non-blank line as one record. With `check`, lines the worker would reject are
    reported on stderr (file:line: reason) and not sent; without it they are sent as they are, so
    the worker's dead-letter path can be exercised."""
    from aiokafka import AIOKafkaProducer
    from tqdm import tqdm

    paths = list(paths)
    summary = {"lines": 0, "sent": 0, "rejected": 0, "rejected_by_reason": {}, "topic": topic}
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5,
                                max_request_size=max(settings.max_record_bytes + 4096, 1_048_576),
                                enable_idempotence=True)
    await _start(producer)
    try:
        progress = tqdm(total=_count_lines(paths), unit="rec", file=sys.stderr, desc="produce",
                        disable=not sys.stderr.isatty() and os.environ.get("NEWSFLOW_PROGRESS") != "1")
        pending = []
        for path in paths:
            with open(path, "rb") as f:
                for number, line in enumerate(f, 1):
                    line = line.rstrip(b"\r\n")
                    if not line.strip():
                        continue
                    summary["lines"] += 1
                    progress.update(1)
                    key = None
                    if check:
                        parsed = parse_raw(line, max_bytes=settings.max_record_bytes,
                                           reject_unknown=settings.reject_unknown_fields)
                        if isinstance(parsed, Rejection):
                            summary["rejected"] += 1
                            by = summary["rejected_by_reason"]
                            by[parsed.reason] = by.get(parsed.reason, 0) + 1
                            sys.stderr.write(f"{path}:{number}: {parsed.reason}: {parsed.detail}\n")
                            continue
                        key = parsed.id.encode()
                    pending.append(await producer.send(topic, line, key=key))
                    summary["sent"] += 1
        for fut in pending:
            await fut
        progress.close()
    finally:
        await producer.stop()
    return summary


async def tail_topic(settings: Settings, topic: str, from_beginning: bool, max_records: int | None,
                     idle_timeout: float | None) -> int:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest" if from_beginning else "latest", group_id=None)
    await _start(consumer)
    seen = 0
    out = sys.stdout.buffer
    try:
        while max_records is None or seen < max_records:
            batch = await consumer.getmany(timeout_ms=int((idle_timeout or 3600) * 1000))
            if not batch:
                if idle_timeout is not None:
                    break
                continue
            for records in batch.values():
                for rec in records:
                    try:
                        value = orjson.loads(rec.value)
                    except orjson.JSONDecodeError:
                        value = {"base64": base64.b64encode(rec.value or b"").decode()}
                    out.write(orjson.dumps({"partition": rec.partition, "offset": rec.offset,
                                            "key": rec.key.decode(errors="replace") if rec.key else None,
                                            "value": value}) + b"\n")
                    out.flush()
                    seen += 1
                    if max_records is not None and seen >= max_records:
                        return seen
    except asyncio.CancelledError:
        pass
    finally:
        await consumer.stop()
    return seen
