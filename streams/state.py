"""The state interface the dedup index is written against (cf. Quix Streams' state stores).

Batch mode uses `DictStore`; the stream wraps a Faust table partition (streams.app) in the same
interface, so the index logic is one piece of code whatever holds the bytes.
"""
from __future__ import annotations

from typing import Iterator, Protocol


class KeyValueStore(Protocol):
    def get(self, key: bytes) -> bytes | None: ...
    def put(self, key: bytes, value: bytes) -> None: ...
    def delete(self, key: bytes) -> None: ...
    def items(self) -> Iterator[tuple[bytes, bytes]]: ...


class DictStore:
    """In-process store for batch mode and unit tests."""

    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self._data.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self._data[key] = value

    def delete(self, key: bytes) -> None:
        self._data.pop(key, None)

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(list(self._data.items()))

    def __len__(self) -> int:
        return len(self._data)
