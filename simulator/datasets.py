"""Classification files for cbify: numeric features with the class last, comma or whitespace separated.

Statlog Shuttle is the reference. It is never copied into the repository: it is read by path and, when online,
fetched from the public UCI archive (its training file there is Unix-`compress`ed, decoded here in pure Python).
"""

from __future__ import annotations

import io
import re
import urllib.error
import urllib.request
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from simulator.errors import DatasetError

SHUTTLE_URL = "https://archive.ics.uci.edu/static/public/148/statlog+shuttle.zip"
SHUTTLE_MEMBER = "shuttle.trn"
DOWNLOAD_TIMEOUT_SECONDS = 60.0
_SEPARATORS = re.compile(r"[,\s]+")


@dataclass(frozen=True)
class ClassificationData:
    """Feature rows and their class labels (labels kept as text: they become action ids)."""

    features: list[tuple[float, ...]]
    labels: list[str]

    @property
    def classes(self) -> list[str]:
        """Distinct labels, numerically sorted when they are numbers ("2" before "10")."""
        distinct = set(self.labels)
        try:
            return sorted(distinct, key=float)
        except ValueError:
            return sorted(distinct)

    def __len__(self) -> int:
        return len(self.labels)


def _label(text: str) -> str:
    """`1`, `1.0` and ` 1` are the same class."""
    try:
        value = float(text)
    except ValueError:
        return text
    return str(int(value)) if value.is_integer() else text


def parse_classification(text: str, source: str = "data") -> ClassificationData:
    """Rows of numbers, class last; blank lines and `#` comments skipped; every row must have the same width."""
    features: list[tuple[float, ...]] = []
    labels: list[str] = []
    width: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f for f in _SEPARATORS.split(line) if f]
        if len(fields) < 2:
            raise DatasetError(f"{source}:{number}: needs at least one feature and a class")
        if width is None:
            width = len(fields)
        elif len(fields) != width:
            raise DatasetError(f"{source}:{number}: has {len(fields)} fields, the first row has {width}")
        try:
            row = tuple(float(f) for f in fields[:-1])
        except ValueError:
            raise DatasetError(f"{source}:{number}: features must be numbers") from None
        features.append(row)
        labels.append(_label(fields[-1]))
    if not labels:
        raise DatasetError(f"{source}: no rows")
    return ClassificationData(features, labels)


def load_classification(path: str | Path) -> ClassificationData:
    """Read a classification file by path."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise DatasetError(f"cannot read {path}: {error}") from None
    return parse_classification(text, str(path))


def unix_uncompress(data: bytes) -> bytes:
    """Decode Unix `compress` (.Z, LZW with growing code width) — the format of UCI's shuttle.trn.Z."""
    if len(data) < 3 or data[:2] != b"\x1f\x9d":
        raise DatasetError("not a .Z (compress) stream")
    max_bits = data[2] & 0x1F
    limit = 1 << max_bits
    block_mode = bool(data[2] & 0x80)
    table: list[bytes] = [bytes([i]) for i in range(256)]
    if block_mode:
        table.append(b"")  # code 256 is CLEAR
    out = bytearray()
    bits, previous = 9, b""
    position, total_bits = 3 * 8, len(data) * 8
    group_start = position
    while position + bits <= total_bits:
        byte = position >> 3
        chunk = int.from_bytes(data[byte : byte + 3].ljust(3, b"\0"), "little")
        code = (chunk >> (position & 7)) & ((1 << bits) - 1)
        position += bits
        if block_mode and code == 256:
            # compress pads each code-width group to a multiple of 8 codes before CLEAR takes effect
            group_bits = bits * 8
            position = group_start + ((position - group_start + group_bits - 1) // group_bits) * group_bits
            table = [bytes([i]) for i in range(256)] + [b""]
            bits, previous, group_start = 9, b"", position
            continue
        if code < len(table):
            entry = table[code]
            if previous and len(table) < limit:
                table.append(previous + entry[:1])
        elif code == len(table) and previous:
            entry = previous + previous[:1]
            table.append(entry)
        else:
            raise DatasetError("corrupt .Z stream")
        out += entry
        previous = entry
        if len(table) >= (1 << bits) and bits < max_bits:
            group_bits = bits * 8
            position = group_start + ((position - group_start + group_bits - 1) // group_bits) * group_bits
            bits += 1
            group_start = position
    return bytes(out)


def _member(archive: zipfile.ZipFile, names: Sequence[str]) -> bytes | None:
    for info in archive.infolist():
        if Path(info.filename).name in names:
            return archive.read(info)
    return None


def download_shuttle(target: str | Path, url: str = SHUTTLE_URL) -> Path:
    """Fetch UCI's Statlog Shuttle training file into `target` (needs internet; a clear error without)."""
    target = Path(target)
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
            payload = response.read()
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise DatasetError(
            f"cannot download Statlog Shuttle from {url} ({error}); this machine may be offline: "
            f"pass --data PATH to a local copy of shuttle.trn"
        ) from None
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            plain = _member(archive, [SHUTTLE_MEMBER])
            compressed = None if plain is not None else _member(archive, [SHUTTLE_MEMBER + ".Z"])
    except zipfile.BadZipFile:
        raise DatasetError(f"{url} did not return a zip archive") from None
    if plain is None and compressed is None:
        raise DatasetError(f"{url} holds neither {SHUTTLE_MEMBER} nor {SHUTTLE_MEMBER}.Z")
    text = plain if plain is not None else unix_uncompress(compressed or b"")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(text)
    return target
