"""How the worker's Faust consumer is tuned: what it records, how its fetches wait, how fetched
records reach the agents, and when a batch's records count as done.

`drain_in_batches` keeps Faust's behaviour (offsets, acks, commits, rebalances, flow control) and
removes a cost Faust pays per record. Measured with one Faust agent that only counts a backlog of
30,000 bench articles (`take_events(256)`, uvloop): 0.17-0.20 ms of CPU per record with Faust's
stock loop, 0.049-0.053 with `drain_in_batches`; a plain aiokafka consumer of the same records used
0.009. `settled_batches` changes one behaviour of Faust's on purpose: a batch cut short is not
acknowledged. These functions rely on faust-streaming 0.15.3 internals (pinned in pyproject.toml).
"""
from __future__ import annotations

import asyncio
import types
from typing import Any

from faust.sensors import Monitor
from faust.transport import consumer as faust_consumer

#: With NEWSFLOW_FETCH_WAIT_MS set, a fetch waits for this much data (or that long) before it returns.
FETCH_MIN_BYTES = 64 * 1024


class QuietMonitor(Monitor):
    """Faust's Monitor sensor, without its per-message bookkeeping.

    Faust calls these hooks for every consumed message, stream event and sent record, and the stock
    Monitor updates counters, timestamps and deques in each. newsflow never reads them: it exports
    its own Prometheus metrics. Everything else of the Monitor (commit and offset tracking) stays."""

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        pass

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        pass

    def on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None) -> None:
        pass

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        pass

    def on_send_initiated(self, producer: Any, topic: str, message: Any, keysize: int, valsize: int) -> None:
        pass

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        pass


def wait_for_fetches(consumer: Any, wait_ms: int) -> None:
    """Make the broker hold each fetch until FETCH_MIN_BYTES are there or `wait_ms` has passed.

    Faust builds its aiokafka consumer with fetch_min_bytes=1, so at low traffic every record that
    arrives on any of the three hops' topics answers a fetch on its own, and the fetch loop turns
    over per record (measured: about 4 ms of worker CPU per article at 100 articles/s). Faust has no
    setting for it, so the worker's client is given the two values as it is built (aiokafka reads
    them when the consumer starts)."""
    thread = consumer._thread
    build = thread._create_worker_consumer

    def build_waiting(transport: Any) -> Any:
        client = build(transport)
        client._fetch_min_bytes = FETCH_MIN_BYTES
        client._fetch_max_wait_ms = wait_ms
        return client

    thread._create_worker_consumer = build_waiting


async def settled_batches(stream: Any, batch_max: int, within: float) -> Any:
    """`stream.take_events(batch_max, within)`, except that a batch's events are acknowledged only
    when the agent comes back for the next batch, that is after it has handed the batch's output
    to the producer.

    take_events acknowledges a batch in a `finally`, so an agent cancelled in the middle of a batch
    (a worker stopping while it drains a backlog) has the whole batch acknowledged, and the offset
    commit that follows skips the events it never finished. Each event here holds one more
    reference to its message while its batch is processed; a cancelled batch keeps it, so its
    offsets are not committed and the events are consumed again after the restart or rebalance.
    Measured with tests/test_app.py's rebalance-in-a-backlog test (a worker stopped while 4,750
    articles flow): without this, 2 of 14 runs lost articles (1, and 1,634); with it, 12 of 12 lost
    none then. A later, busier measurement lost articles in 4 of 20 runs with it: another cause,
    still open (README, known issue)."""
    async for events in stream.take_events(batch_max, within=within):
        for event in events:
            event.message.incref()
        yield events
        for event in events:
            event.message.decref()   # take_events' own acknowledgement is then the final one


def deliver_in_batches(consumer: Any) -> None:
    """Replace `consumer`'s fetch loop (Faust's `Consumer._drain_messages`) with `drain_in_batches`."""
    consumer._drain_messages = types.MethodType(drain_in_batches, consumer)


async def drain_in_batches(self: Any, fetcher: Any) -> None:
    """Faust's `Consumer._drain_messages`, racing each fetched batch's delivery, not each record's,
    against a stop of the flow.

    Faust hands every fetched record to the agents' channels inside `wait_first(callback(message),
    suspend_flow.wait())`, so that a rebalance (which sets `suspend_flow`) cancels a delivery blocked
    on a full stream buffer. That makes four asyncio tasks and an `asyncio.wait` per record, most
    of what Faust's consumer costs. Here the fetch runs as in Faust, outside any race (cancelling
    it would drop records the consumer thread has already taken from its client), and then the
    batch is delivered in one task raced the same way. A rebalance cancels that task at the record
    it has reached, and the records after it are not delivered. Faust's loop drops those too (its
    race returns at once once the flow is stopped, and its fetch iterator stops at a stopped flow
    or a new generation, checked here before each record against the generation the record was
    fetched in), and after the rebalance it fetches
    again from the committed offsets. Everything else is Faust's loop as it is: read offsets, gap
    tracking for acks, a commit every N acks, a yield every 100 records."""
    callback = self.callback
    getmany = self.getmany
    app = self.app
    consumer_should_stop = self._stopped.is_set
    fetcher_should_stop = fetcher._stopped.is_set
    get_read_offset = self._read_offset.__getitem__
    set_read_offset = self._read_offset.__setitem__
    flag_consumer_fetching = faust_consumer.CONSUMER_FETCHING
    set_flag = self.diag.set_flag
    unset_flag = self.diag.unset_flag
    commit_every = self._commit_every
    acks_enabled_for = app.topics.acks_enabled_for
    sleep = asyncio.sleep

    async def deliver(fetched: list) -> None:
        since_yield = 0
        for tp, message in fetched:
            # The record's own generation, stamped as it was fetched, as Faust's streams check it:
            # the consumer thread moves the app to a new generation at any moment, also between a
            # fetch and a later read of the app's generation, so that read cannot stand for it.
            if not self.flow_active or app.consumer_generation_id != message.generation_id:
                return
            since_yield += 1
            if since_yield > 100:
                await sleep(0)
                since_yield = 0
            offset = message.offset
            read_offset = get_read_offset(tp)
            if read_offset is None or offset >= read_offset:
                gap = offset - (read_offset or 0)
                if gap > 1 and read_offset and acks_enabled_for(message.topic):
                    await self._add_gap(tp, read_offset + 1, offset)
                if commit_every is not None and self._n_acked >= commit_every:
                    self._n_acked = 0
                    await self.commit()
                await callback(message)
                set_read_offset(tp, offset)

    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            set_flag(flag_consumer_fetching)
            fetching = getmany(timeout=1.0)
            await self.sleep(0)   # as Faust: getmany may return at once, turn after turn
            if not self.should_stop:
                fetched = [item async for item in fetching]
                if fetched:
                    await self.wait_first(deliver(fetched), self.suspend_flow.wait())
            unset_flag(flag_consumer_fetching)
    except self.consumer_stopped_errors:
        if self.transport.app.should_stop:
            return
        raise
    except asyncio.CancelledError:
        if self.transport.app.should_stop:
            return
        raise
    except Exception as exc:
        self.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        unset_flag(flag_consumer_fetching)
