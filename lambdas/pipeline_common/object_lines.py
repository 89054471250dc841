"""The lines of an S3 object, streamed with bounded memory: plain or gzip, however large or hostile the object.

Reading a body whole and `gzip.decompress`-ing it lets a 0.3 MB gzip bomb take all of a function's memory. Here the
body is read in `CHUNK_BYTES` pieces, inflated with `zlib.decompressobj` and a `max_length` (so one compressed
piece never expands past `CHUNK_BYTES` at once), and split into lines of at most `max_line_bytes`; a longer line is
reported as oversized and skipped to its newline without being held. Memory is bounded by the structure: one chunk
in, one chunk out, one line. Reading stops (and says why) at a byte budget of inflated bytes, at a deadline, or at
a gzip stream that cannot be read; the caller decides what a partial read means.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

CHUNK_BYTES = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"
_GZIP_WBITS = 16 + zlib.MAX_WBITS
"""zlib's window bits for a gzip wrapper (header and CRC checked)."""


class Readable(Protocol):
    """A body read in pieces: botocore's `StreamingBody` or an `io.BytesIO`."""

    def read(self, amt: int | None = ..., /) -> bytes: ...


@dataclass(frozen=True)
class Oversized:
    """A line longer than the line bound: skipped unread, its length known only up to the bound."""

    at_least_bytes: int


@dataclass
class LineReader:
    """Yields each line (without its newline) or `Oversized`; afterwards `stopped` says why it ended early, if it did.

    `max_bytes` bounds the bytes read after inflating (the object's text); `deadline` is a `time.monotonic()` value.
    A line cut off by an early stop is neither yielded nor counted.
    """

    body: Readable
    max_line_bytes: int
    max_bytes: int
    deadline: float | None = None
    bytes_read: int = 0
    stopped: str | None = None
    compressed: bool = field(default=False, init=False)

    def _raw(self) -> Iterator[bytes]:
        while data := self.body.read(CHUNK_BYTES):
            yield data

    def _inflated(self, raw: Iterator[bytes]) -> Iterator[bytes]:
        """Inflate gzip members one after another (gzip allows several), never more than a chunk per call."""
        inflater = zlib.decompressobj(_GZIP_WBITS)
        in_member = False
        for data in raw:
            while data:
                in_member = True
                try:
                    out = inflater.decompress(data, CHUNK_BYTES)
                except zlib.error as error:
                    self.stopped = f"unreadable gzip: {error}"
                    return
                if out:
                    yield out
                if inflater.eof:
                    data = inflater.unused_data
                    inflater = zlib.decompressobj(_GZIP_WBITS)
                    in_member = False
                else:
                    data = inflater.unconsumed_tail
            while in_member and not inflater.eof and (out := inflater.decompress(b"", CHUNK_BYTES)):
                yield out  # output zlib still held back when the input piece ran out
        if in_member and not inflater.eof:
            self.stopped = "truncated gzip: the stream ends inside a member"

    def _text(self) -> Iterator[bytes]:
        raw = self._raw()
        first = next(raw, b"")
        if not first:
            return
        self.compressed = first[:2] == GZIP_MAGIC
        pieces = _chain(first, raw)
        yield from self._inflated(pieces) if self.compressed else pieces

    def _budgeted(self) -> Iterator[bytes]:
        for chunk in self._text():
            if self.bytes_read >= self.max_bytes:
                self.stopped = f"byte budget: read {self.bytes_read} bytes, the limit is {self.max_bytes}"
                return
            if self.deadline is not None and time.monotonic() >= self.deadline:
                self.stopped = f"time budget: the function's time ran out after {self.bytes_read} bytes"
                return
            self.bytes_read += len(chunk)
            yield chunk

    def __iter__(self) -> Iterator[bytes | Oversized]:
        pending: list[bytes] = []
        pending_size = 0
        oversized = False
        for chunk in self._budgeted():
            start = 0
            while (end := chunk.find(b"\n", start)) >= 0:
                piece = chunk[start:end]
                if oversized or pending_size + len(piece) > self.max_line_bytes:
                    yield Oversized(max(pending_size + len(piece), self.max_line_bytes + 1))
                else:
                    yield b"".join((*pending, piece)) if pending else piece
                pending, pending_size, oversized = [], 0, False
                start = end + 1
            piece = chunk[start:]
            if oversized or pending_size + len(piece) > self.max_line_bytes:
                pending, pending_size, oversized = [], self.max_line_bytes + 1, True
            elif piece:
                pending.append(piece)
                pending_size += len(piece)
        if self.stopped is None and (pending or oversized):
            yield Oversized(pending_size) if oversized else b"".join(pending)


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest
