"""Classification files and the UCI download path (offline here: the .Z decoder is checked against gzip)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from simulator.datasets import download_shuttle, parse_classification, unix_uncompress
from simulator.errors import DatasetError


def test_parse_mixed_separators_and_float_labels() -> None:
    data = parse_classification("1, 2 ,3\n4\t5  6.0\n\n# c\n7,8,10\n")
    assert data.features == [(1.0, 2.0), (4.0, 5.0), (7.0, 8.0)]
    assert data.labels == ["3", "6", "10"]
    assert data.classes == ["3", "6", "10"]  # numeric order, not text order


def test_parse_rejects_non_numbers_and_empty() -> None:
    with pytest.raises(DatasetError, match="must be numbers"):
        parse_classification("a,b,1\n", "f")
    with pytest.raises(DatasetError, match="no rows"):
        parse_classification("\n# nothing\n", "f")


def compress_z(data: bytes, max_bits: int = 12, clear_every: int | None = None) -> bytes:
    """A Unix `compress` encoder (block mode), to check the decoder; gzip -d validates its output."""
    bits, free, written, group_start = 9, 257, 0, 0
    table = {bytes([i]): i for i in range(256)}
    out = 0

    def emit(code: int, clear: bool = False) -> None:
        nonlocal out, written, bits, group_start
        out |= code << written
        written += bits
        if clear or (free > (1 << bits) - 1 and bits < max_bits):
            group = bits * 8
            written = group_start + -(-(written - group_start) // group) * group
            group_start = written
            bits = 9 if clear else bits + 1

    current = data[:1]
    emitted = 0
    for byte in data[1:]:
        candidate = current + bytes([byte])
        if candidate in table:
            current = candidate
            continue
        emit(table[current])
        emitted += 1
        if clear_every and emitted % clear_every == 0:
            emit(256, clear=True)
            table = {bytes([i]): i for i in range(256)}
            free = 257
        elif free < (1 << max_bits):
            table[candidate] = free
            free += 1
        current = bytes([byte])
    if current:
        emit(table[current])
    body = out.to_bytes((written + 7) // 8, "little")
    return b"\x1f\x9d" + bytes([0x80 | max_bits]) + body


@pytest.mark.parametrize("clear_every", [None, 700])
def test_unix_uncompress_round_trip_checked_by_gzip(clear_every: int | None) -> None:
    text = b"".join(f"{i % 97},{(i * 31) % 113},{i % 7},{i // 3}\n".encode() for i in range(6000))
    compressed = compress_z(text, max_bits=12, clear_every=clear_every)
    if shutil.which("gzip"):
        assert subprocess.run(["gzip", "-dc"], input=compressed, capture_output=True, check=True).stdout == text
    assert unix_uncompress(compressed) == text


def test_unix_uncompress_rejects_other_data() -> None:
    with pytest.raises(DatasetError, match=r"not a \.Z"):
        unix_uncompress(b"PK\x03\x04")


def test_download_offline_says_what_to_do(tmp_path) -> None:
    with pytest.raises(DatasetError, match="--data PATH"):
        download_shuttle(tmp_path / "shuttle.trn", url="http://127.0.0.1:9/statlog+shuttle.zip")
