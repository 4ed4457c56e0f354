"""Table state written to the changelog in segments: one changelog record per processed batch.

Faust writes one changelog record per table key change. The dedup index changes ~15 keys per
article (postings and the article's record), so per-key changelog records would cost more than
the rest of the pipeline together. Here each partition's changes during one batch are applied to
the partition's local store and shipped as ONE changelog record (a "segment": the batch's puts and
deletes, in order). Recovery (and standby replicas) expand segments back into per-key writes, in
changelog order, so the restored store is the one that was written.

Segment keys are unique, so the changelog is not compacted; its retention (dedup window plus a
margin) drops segments whose state has all expired (see topology.topic_specs).
"""
from __future__ import annotations

import logging
import struct
import time
import weakref
from typing import Any, Iterable, Iterator

import faust
from rocksdict import WriteBatch

log = logging.getLogger(__name__)
_ABSENT = object()
#: Entries each PartitionState keeps in its read cache: values are up to 2 KiB (a full posting
#: list) and mostly a few hundred bytes, so at most some tens of MB per partition.
CACHE_ENTRIES = 32768
_SEGMENT = b"\xffseg"
_DELETED = 0xFFFFFFFF
_HEAD = struct.Struct(">HI")


def pack_segment(changes: dict[bytes, bytes | None]) -> bytes:
    parts = []
    for key, value in changes.items():
        if value is None:
            parts.append(_HEAD.pack(len(key), _DELETED) + key)
        else:
            parts.append(_HEAD.pack(len(key), len(value)) + key + value)
    return b"".join(parts)


def unpack_segment(data: bytes) -> Iterator[tuple[bytes, bytes | None]]:
    view = memoryview(data)
    pos, end = 0, len(data)
    size = _HEAD.size
    while pos < end:
        klen, vlen = _HEAD.unpack_from(view, pos)
        pos += size
        key = bytes(view[pos:pos + klen])
        pos += klen
        if vlen == _DELETED:
            yield key, None
        else:
            yield key, bytes(view[pos:pos + vlen])
            pos += vlen


def chunked_json(items: list, max_bytes: int) -> Iterator[bytes]:
    """`items` as JSON arrays of at most ~max_bytes each (an item larger than that goes alone)."""
    import orjson

    encoded = [orjson.dumps(item) for item in items]
    chunk: list[bytes] = []
    size = 0
    for item in encoded:
        if chunk and size + len(item) > max_bytes:
            yield b"[" + b",".join(chunk) + b"]"
            chunk, size = [], 0
        chunk.append(item)
        size += len(item) + 1
    if chunk:
        yield b"[" + b",".join(chunk) + b"]"


class _MemoryPartitions:
    """Per-partition dicts for the memory:// store (tests, throwaway workers)."""

    def __init__(self) -> None:
        self.partitions: dict[int, dict[bytes, bytes]] = {}

    def db(self, partition: int) -> dict[bytes, bytes]:
        return self.partitions.setdefault(partition, {})


class SegmentTable(faust.Table):
    """A Faust table whose changelog carries segments (see module doc). Read and write it only
    through `PartitionState`; Faust's own per-key API is not used for its data."""

    @property
    def _memory(self) -> _MemoryPartitions:
        mem = getattr(self, "_newsflow_memory", None)
        if mem is None:
            mem = self._newsflow_memory = _MemoryPartitions()
        return mem

    def partition_db(self, partition: int) -> Any:
        store = self.data
        if hasattr(store, "_db_for_partition"):
            return store._db_for_partition(partition)  # rocksdict.Rdict, raw bytes
        return self._memory.db(partition)

    def apply_changelog_batch(self, batch: Iterable[Any]) -> None:
        store = self.data
        persisted: dict[Any, int] = {}
        for event in batch:
            message = event.message
            persisted[message.tp] = max(message.offset, persisted.get(message.tp, -1))
            if message.value is None or not message.key or not message.key.startswith(_SEGMENT):
                continue
            db = self.partition_db(message.partition)
            for key, value in unpack_segment(message.value):
                if value is None:
                    if key in db:
                        del db[key]
                else:
                    db[key] = value
        if hasattr(store, "set_persisted_offset"):
            for tp, offset in persisted.items():
                store.set_persisted_offset(tp, offset)

    @property
    def states(self) -> "weakref.WeakSet[PartitionState]":
        """The PartitionStates over this table (they cache store handles; see on_rebalance)."""
        states = getattr(self, "_newsflow_states", None)
        if states is None:
            states = self._newsflow_states = weakref.WeakSet()
        return states

    async def on_rebalance(self, assigned: set, revoked: set, newly_assigned: set, generation_id: int = 0) -> None:
        for state in list(self.states):
            state._db = None   # before the store closes revoked partitions (it collects their handles)
            state.cache.clear()   # recovery writes to the store directly, past the cache
        if not hasattr(self.data, "_db_for_partition"):
            # A memory store keeps nothing for partitions another worker now owns; recovery replays
            # the whole changelog when they come back.
            for tp in revoked:
                self._memory.partitions.pop(tp.partition, None)
        await super().on_rebalance(assigned, revoked, newly_assigned, generation_id)

    def close_stores(self) -> int:
        """Close every RocksDB handle this table holds; returns how many. For the end of the process,
        once no agent runs: Faust's store forgets its handles on stop without closing them, and the
        agents' PartitionStates keep them until the process ends. Never closed, RocksDB kept its
        background threads running while the process exited, and the exit crashed now and then
        (SIGSEGV after a clean stop; no partition's RocksDB log said "Shutdown complete")."""
        handles = {}
        for state in list(self.states):
            if state._db is not None:
                handles[id(state._db)] = state._db
            state._db = None
            state.cache.clear()
        for db in getattr(self.data, "_dbs", {}).values():
            handles[id(db)] = db
        closed = 0
        for db in handles.values():
            close = getattr(db, "close", None)
            if close is None:   # the memory store's partitions are dicts
                continue
            try:
                close()
                closed += 1
            except Exception as exc:   # one that will not close must not keep the others open
                log.warning("could not close a RocksDB store of %s: %r", self.name, exc)
        if hasattr(self.data, "_dbs"):
            self.data._dbs.clear()
        return closed

    def send_segment(self, partition: int, changes: dict[bytes, bytes | None], max_bytes: int = 512 * 1024) -> None:
        # Several segments when one would near the broker's message limit; each is applied in order.
        chunk: dict[bytes, bytes | None] = {}
        size = 0
        for key, value in changes.items():
            item = len(key) + (len(value) if value is not None else 0) + _HEAD.size
            if chunk and size + item > max_bytes:
                self._send_one(partition, chunk)
                chunk, size = {}, 0
            chunk[key] = value
            size += item
        if chunk:
            self._send_one(partition, chunk)

    #: Called with each segment's delivery future (set by streams.app to stop on a refused write).
    delivery_callback: Any = None

    def _send_one(self, partition: int, changes: dict[bytes, bytes | None]) -> None:
        key = _SEGMENT + struct.pack(">HQ", partition, time.time_ns())
        fut = self.send_changelog(partition, key, pack_segment(changes), key_serializer="raw", value_serializer="raw")
        if self.delivery_callback is not None:
            fut.add_done_callback(self.delivery_callback)


class PartitionState:
    """streams.state.KeyValueStore over one partition of a SegmentTable, with a write-back buffer:
    reads see pending changes; `flush()` applies them to the local store and sends one segment.

    Reads go through a bounded cache of recently read and written entries (absent keys included):
    a RocksDB read costs about 2 us through its Python binding, a dict lookup 0.1, and an article's
    probe reads its keys' posting lists and its candidates' records, mostly recent ones. Every
    write passes here (flush updates the cache); Faust's recovery writes to the store directly, so
    SegmentTable.on_rebalance clears it."""

    def __init__(self, table: SegmentTable, partition: int, cache_entries: int = CACHE_ENTRIES) -> None:
        self.table = table
        self.partition = partition
        self.pending: dict[bytes, bytes | None] = {}
        self.cache: dict[bytes, bytes | None] = {}
        self.cache_entries = cache_entries
        self._db: Any = None
        table.states.add(self)

    @property
    def db(self) -> Any:
        # The store handle is kept between calls; SegmentTable.on_rebalance drops it (a rebalance
        # may close the partition's store, and a handle kept alive here would hold RocksDB's lock
        # when Faust reopens it).
        if self._db is None:
            self._db = self.table.partition_db(self.partition)
        return self._db

    def get(self, key: bytes) -> bytes | None:
        value = self.pending.get(key, _ABSENT)
        if value is _ABSENT:
            value = self.cache.get(key, _ABSENT)
            if value is _ABSENT:
                value = self.db.get(key)
                self._remember(key, value)
        return value

    def _remember(self, key: bytes, value: bytes | None) -> None:
        if len(self.cache) >= self.cache_entries:
            self.cache.clear()   # wholesale: cheaper than an LRU's bookkeeping on every read
        self.cache[key] = value

    def put(self, key: bytes, value: bytes) -> None:
        self.pending[key] = value

    def delete(self, key: bytes) -> None:
        self.pending[key] = None

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        self.flush()
        offset_key = getattr(self.table.data, "offset_key", None)
        snapshot = [(k, v) for k, v in self.db.items() if k != offset_key]
        return iter(snapshot)

    def scan(self, after: bytes | None, limit: int) -> list[tuple[bytes, bytes]]:
        """Up to `limit` stored entries after key `after` (None: from the first), in key order, so a
        long pass over a partition can be cut into slices. Pending changes are not included: flush
        first. The memory store has no order: its first slice holds everything."""
        db = self.db
        offset_key = getattr(self.table.data, "offset_key", None)
        if isinstance(db, dict):
            return [] if after is not None else [(k, v) for k, v in db.items() if k != offset_key]
        out: list[tuple[bytes, bytes]] = []
        for key, value in (db.items(from_key=after) if after is not None else db.items()):
            if key == after or key == offset_key:
                continue
            out.append((key, value))
            if len(out) >= limit:
                break
        return out

    def flush(self) -> int:
        if not self.pending:
            return 0
        changes, self.pending = self.pending, {}
        for key, value in changes.items():
            self._remember(key, value)
        db = self.db
        if isinstance(db, dict):
            for key, value in changes.items():
                if value is None:
                    db.pop(key, None)
                else:
                    db[key] = value
        else:
            # One RocksDB write batch per flush: a write per key cost more than the probes did.
            batch = WriteBatch(raw_mode=True)
            for key, value in changes.items():
                if value is None:
                    batch.delete(key)
                else:
                    batch.put(key, value)
            db.write(batch)
        self.table.send_segment(self.partition, changes)
        return len(changes)
