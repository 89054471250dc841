"""A serving worker's spool: every decision record is in a file before its decision is answered.

A worker writes its records into memory-mapped segment files (`MAP_SHARED`: the bytes are in the kernel's page
cache the moment they are copied, so a crash of the process, even SIGKILL, cannot lose them; only the instance
going down can). The decision log's drainer seals the segment it takes records from and deletes a sealed segment
once all its records are delivered. Segments left behind by a dead worker are read back by the worker that takes
its place (or any worker starting later) and delivered first: at least once, duplicates are dropped by the join's
one-row-per-`event_id` rule.

Framing: one record per line. A segment is created sparse at its full size; what was never written reads as NUL
bytes, which no JSON line contains (a control character is escaped), so the first NUL ends the data, and a last
line without its newline (a copy cut short by the crash: its decision was not answered) is dropped.

Each worker holds an exclusive `flock` on its slot directory (`<spool>/<slot>/`) for its lifetime; the kernel
releases it when the process dies, which is how a successor knows the slot's segments are orphans, not in use.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
from dataclasses import dataclass, field
from pathlib import Path

SEGMENT_BYTES = 8 * 1024 * 1024
SUFFIX = ".spool"
LOCK_NAME = ".lock"
MAX_SLOTS = 1024


def read_segment(path: Path) -> list[bytes]:
    """The complete records of a segment file (see the module's framing)."""
    data = path.read_bytes()
    end = data.find(b"\0")
    if end >= 0:
        data = data[:end]
    last = data.rfind(b"\n")
    return data[:last].split(b"\n") if last >= 0 else []


@dataclass
class Segment:
    """One memory-mapped segment file being written."""

    path: Path
    capacity: int
    position: int = 0
    _map: mmap.mmap | None = field(default=None, repr=False)

    @classmethod
    def create(cls, path: Path, capacity: int) -> Segment:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.ftruncate(fd, capacity)  # sparse: disk is used only as records are written
            mapped = mmap.mmap(fd, capacity, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)
        return cls(path, capacity, 0, mapped)

    def fits(self, size: int) -> bool:
        return self.position + size <= self.capacity

    def write(self, data: bytes) -> None:
        assert self._map is not None
        end = self.position + len(data)
        self._map[self.position : end] = data
        self.position = end

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None

    def discard(self) -> None:
        self.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _try_lock(directory: Path) -> int | None:
    """An exclusive, non-blocking flock on `directory`'s lock file: its fd, or None when another process holds it."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _segments(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"*{SUFFIX}"))


class Spool:
    """A worker's slot: the segment being written, the sealed ones awaiting delivery, and the slot's lock."""

    def __init__(self, root: Path, slot: int = 0, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.root = root
        self.segment_bytes = segment_bytes
        lock = None
        for candidate in range(slot, slot + MAX_SLOTS):  # a slot held by a live process is skipped
            lock = _try_lock(root / str(candidate))
            if lock is not None:
                self.directory = root / str(candidate)
                break
        if lock is None:
            raise RuntimeError(f"no free spool slot under {root} (another {MAX_SLOTS} workers hold them)")
        self._lock_fd = lock
        existing = _segments(self.directory)
        self._sequence = int(existing[-1].stem) + 1 if existing else 0
        self._adopt_orphans()
        self.leftovers = [Leftover(path, read_segment(path)) for path in _segments(self.directory)]
        """Segments a dead worker left (in this slot, or adopted from a slot no live process holds): the decision
        log delivers them first and discards each once delivered."""
        self.current = self._new_segment(segment_bytes)

    def _adopt_orphans(self) -> None:
        """Move the segments of every slot no live process holds into this one (renames, under that slot's lock, so
        two starting workers never take the same segment)."""
        for directory in sorted(p for p in self.root.iterdir() if p.is_dir() and p != self.directory):
            fd = _try_lock(directory)
            if fd is None:
                continue
            try:
                for path in _segments(directory):
                    path.rename(self.directory / f"{self._sequence:012d}{SUFFIX}")
                    self._sequence += 1
            finally:
                os.close(fd)

    def _new_segment(self, capacity: int) -> Segment:
        segment = Segment.create(self.directory / f"{self._sequence:012d}{SUFFIX}", capacity)
        self._sequence += 1
        return segment

    def append(self, data: bytes, sealed: list[Segment]) -> None:
        """Write `data` (whole lines); a full segment is sealed into `sealed` and a new one started."""
        if not self.current.fits(len(data)):
            sealed.append(self.current)
            self.current = self._new_segment(max(self.segment_bytes, len(data)))
        self.current.write(data)

    def seal(self) -> Segment | None:
        """Seal the current segment if it holds anything (the drainer takes its records) and start a new one."""
        if self.current.position == 0:
            return None
        sealed = self.current
        self.current = self._new_segment(self.segment_bytes)
        return sealed

    def close(self) -> None:
        """Remove the (empty) current segment and release the slot; undelivered segments stay for a successor."""
        if self.current.position == 0:
            self.current.discard()
        else:
            self.current.close()
        os.close(self._lock_fd)


@dataclass
class Leftover:
    """A dead worker's segment, read back; `discard()` once its records are delivered."""

    path: Path
    records: list[bytes]

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
