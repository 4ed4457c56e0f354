"""How the worker's Faust consumer is tuned: what it records, how its fetches wait, how fetched
records reach the agents, and when a batch's records count as done.

`drain_in_batches` keeps Faust's behaviour (offsets, acks, commits, rebalances, flow control) and
removes a cost Faust pays per record. Measured with one Faust agent that only counts a backlog of
30,000 bench articles (`take_events(256)`, uvloop): 0.17-0.20 ms of CPU per record with Faust's
stock loop, 0.049-0.053 with `drain_in_batches`; a plain aiokafka consumer of the same records used
0.009. Three behaviours of Faust's are changed on purpose, each because it lost articles when a
worker stopped or a rebalance came in the middle of a backlog (tests/test_app.py): a batch cut
short is not acknowledged (`settled_batches`), a commit never passes a record not acknowledged in
this generation (`settled_offset`, `deliver_in_batches`), and records are handed to the agents in
offset order with none left out (`next_step`). These functions rely on faust-streaming 0.15.3
internals (pinned in pyproject.toml).
"""
from __future__ import annotations

import asyncio
import types
from typing import Any

from faust.sensors import Monitor
from faust.transport import consumer as faust_consumer
from faust.utils.functional import consecutive_numbers

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
    none then. Later losses, in about 1 run in 5 on a busy machine, had another cause: see
    `next_step`."""
    async for events in stream.take_events(batch_max, within=within):
        for event in events:
            event.message.incref()
        yield events
        for event in events:
            event.message.decref()   # take_events' own acknowledgement is then the final one


def deliver_in_batches(consumer: Any) -> None:
    """Replace `consumer`'s fetch loop (Faust's `Consumer._drain_messages`) with `drain_in_batches`,
    its choice of the offsets to commit (`Consumer._new_offset`) with `settled_offset`, and make
    its seek after a rebalance (`perform_seek`) also place the partitions with nothing committed."""
    consumer._drain_messages = types.MethodType(drain_in_batches, consumer)
    consumer._new_offset = types.MethodType(settled_offset, consumer)
    consumer.first_delivered = {}
    faust_ack = consumer.ack

    def ack_this_generation(message: Any) -> bool:
        # Faust's streams acknowledge the records they skip for being from an earlier consumer
        # generation (fetched before a rebalance), and the offset of such a record then counts
        # as done in the new generation's bookkeeping, though the partition's records from the
        # committed offset on are fetched again and may not be processed yet: commits passed
        # articles that were never published (tests/test_app.py, the rebalance-in-a-backlog
        # test). Such a record is marked done here without counting.
        generation_id = message.generation_id
        if generation_id is not None and generation_id != consumer.app.consumer_generation_id:
            message.acked = True
            consumer._unacked_messages.discard(message)
            return False
        return faust_ack(message)

    consumer.ack = ack_this_generation
    faust_perform_seek = consumer.perform_seek

    async def perform_seek() -> None:
        # Faust's recovery makes the stream partitions fetchable, seeks them, and then resumes the
        # streams, which empties their buffers; its consumer flow is still running from reading
        # the changelogs. Records delivered in between were emptied away with the read offset
        # already past them, so they were never delivered again, and the commits of their
        # partition stopped there (a stalled worker: 225 records of a partition). Every caller
        # resumes the flow after the seek (or had stopped it).
        consumer.stop_flow()
        # Faust seeks each partition to its committed offset, and leaves a partition with none
        # where the client's position is. That position can be past records fetched before the
        # rebalance and dropped with the stream buffers then (records 4-400 of a partition were
        # never delivered again). Such a partition starts again from its first record, as a
        # consumer with nothing committed does (auto_offset_reset="earliest"), and that is the
        # record it expects next (next_step).
        await faust_perform_seek()
        changelogs = consumer.app.tables.changelog_topics   # placed by the tables' recovery
        unknown = [tp for tp in consumer.assignment()
                   if consumer._read_offset.get(tp) is None and tp.topic not in changelogs]
        if unknown:
            starts = await consumer.earliest_offsets(*unknown)
            await consumer.seek_wait(starts)
            consumer._read_offset.update(starts)   # seek_wait forgets an offset of 0

    consumer.perform_seek = perform_seek


def settled_offset(self: Any, tp: Any) -> int | None:
    """Faust's `Consumer._new_offset`: the offset to commit for `tp`, from the offsets acknowledged
    since the last commit. Unlike Faust's, it never passes a record not yet acknowledged.

    Faust commits the first run of consecutive acknowledged offsets, checked against the committed
    offset only when that is non-zero and with an off-by-one (a run starting one past the committed
    offset passes it). That is harmless only while records are acknowledged in order, and around a
    rebalance they are not (batches of two generations, records delivered twice). Here a run is committed only if it starts where the unacknowledged records could start: the
    committed offset, or the first record delivered since the partition was assigned when that is
    later (nothing committed yet, or the records before it deleted by retention)."""
    acked = self._acked[tp]
    if not acked:
        return None
    gap_for_tp = self._gap[tp]
    if gap_for_tp:   # as Faust: offsets known to hold no record count as acknowledged
        max_offset = max(acked)
        candidates = sorted(gap_for_tp.overlap(0, max_offset), key=lambda x: x.begin)
        if candidates:
            filled = [offset for entry in candidates for offset in range(entry.begin, entry.end)]
            acked.extend(filled)
            gap_for_tp.chop(0, max(filled[-1], max_offset + 1))
    acked.sort()
    committed = self._committed_offset[tp]
    first = self.first_delivered.get(tp)
    first_offset = first[1] if first is not None and first[0] == self.app.consumer_generation_id else None
    if committed is None or (first_offset is not None and first_offset > committed):
        committed = first_offset
    if committed is None:
        return None
    stale = 0
    while stale < len(acked) and acked[stale] < committed:   # acknowledged before an earlier commit
        stale += 1
    if stale:
        self._acked_index[tp].difference_update(acked[:stale])
        acked[:stale] = []
    if not acked or acked[0] != committed:
        return None
    batch = next(consecutive_numbers(acked))
    acked[: len(batch)] = []
    self._acked_index[tp].difference_update(batch)
    return batch[-1] + 1


DELIVER, SKIP, REWIND, JUMP = "deliver", "skip", "rewind", "jump"


def next_step(expected: int | None, offset: int, rewound_to: int | None) -> str:
    """What the fetch loop does with a fetched record at `offset` of a partition whose next record
    is `expected` (None: not known, as after an assignment with nothing committed).

    newsflow's topics are neither compacted nor transactional, so their offsets have no holes: a
    record past the expected one means the records in between were fetched and never handed to the
    agents. That happened around rebalances: a fetch that returned after the partition was sought
    back to its committed offset, or a delivery cut short, left the client's position past records
    never delivered. Faust marks such a jump as offsets holding no record, which count as
    acknowledged, and the next commit passed articles that were never published (about 1 run in 5
    of tests/test_app.py's rebalance-in-a-backlog test on a busy 2-core machine; 694 and 940
    articles in the two runs traced, all of them committed on the raw topic and never analysed). Here the partition is sought back to the expected record instead (REWIND). Only if it
    jumps again from the same place (the records were deleted by retention meanwhile) is the jump
    taken as Faust takes it (JUMP). A record before the expected one was delivered already (SKIP)."""
    if expected is None or offset == expected:
        return DELIVER
    if offset < expected:
        return SKIP
    return JUMP if rewound_to == expected else REWIND


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
    again from the committed offsets. Everything else is Faust's loop, except that a stream
    partition's records are delivered in offset order with none left out (`next_step`;
    `_read_offset` here always holds the next offset to deliver, as Faust's seeks set it): a commit
    every N acks, a yield every 100 records."""
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
    guarded: dict[str, bool] = {}   # topic -> a stream's (acknowledged records, offsets without holes)
    first_delivered = self.first_delivered
    rewound: dict = {}   # partition -> the offset it was last sought back to (next_step)
    seek_wait = self.seek_wait
    sleep = asyncio.sleep

    async def deliver(fetched: list) -> None:
        since_yield = 0
        held_back: set = set()   # partitions sought back in this delivery: their later records wait
        for tp, message in fetched:
            # The record's own generation (stamped as it was fetched), as Faust's streams check it:
            # the consumer thread moves the app to a new generation at any moment, also between the
            # fetch and a read of the app's generation here.
            generation_id = message.generation_id
            if not self.flow_active or app.consumer_generation_id != generation_id:
                return
            if tp in held_back:
                continue
            since_yield += 1
            if since_yield > 100:
                await sleep(0)
                since_yield = 0
            offset = message.offset
            expected = get_read_offset(tp)
            topic = message.topic
            stream = guarded.get(topic)
            if stream is None:
                stream = guarded[topic] = acks_enabled_for(topic)
            if stream:
                step = next_step(expected, offset, rewound.get(tp))
            else:   # a changelog being recovered: as Faust
                step = DELIVER if expected is None or offset >= expected else SKIP
            if step == SKIP:
                continue
            if step == REWIND:
                self.log.info("%s: fetched offset %s, expected %s: seeking back to it", tp, offset, expected)
                held_back.add(tp)
                rewound[tp] = expected
                try:
                    await seek_wait({tp: expected})
                except Exception as exc:   # revoked meanwhile: the next assignment seeks it anyway
                    self.log.info("could not seek %s back to %s: %r", tp, expected, exc)
                set_read_offset(tp, expected)   # seek_wait forgets an expected offset of 0
                continue
            if step == JUMP:
                self.log.warning("%s: offsets %s-%s missing again after seeking back to them; taken as "
                                 "deleted by retention", tp, expected, offset - 1)
                await self._add_gap(tp, expected, offset - 1)
            if commit_every is not None and self._n_acked >= commit_every:
                self._n_acked = 0
                await self.commit()
            first = first_delivered.get(tp)
            if first is None or first[0] != generation_id:
                first_delivered[tp] = (generation_id, offset)   # for settled_offset
            await callback(message)
            set_read_offset(tp, offset + 1)

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
