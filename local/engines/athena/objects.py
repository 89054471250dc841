"""The S3 side of a query: list a table's objects in the wanted partitions and keep local copies of them, cached by
ETag across queries and pruned least recently used first."""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.engines.athena.catalog import TableLocation
from local.engines.athena.failures import split_s3
from local.engines.athena.serde import TableSource

CACHE_BYTES = int(float(os.environ.get("LOCAL_ATHENA_CACHE_MB", "2048")) * 1024 * 1024)
DOWNLOAD_THREADS = 4


@dataclass(frozen=True)
class StoredObject:
    """One object a query reads: its partition value, key, ETag and size."""

    partition: str
    key: str
    etag: str
    size: int


class ObjectCache:
    """Local copies of S3 objects under `cache_dir`, read through a boto3 S3 client."""

    def __init__(self, cache_dir: Path, s3: Callable[[], Any]) -> None:
        self.cache_dir = cache_dir
        self._s3 = s3

    def load(self, source: TableSource, location: TableLocation) -> list[tuple[StoredObject, str]]:
        """Fetch the table's objects in the wanted partitions into `source.files` (and `source.uris`); returns each
        object with its S3 URI."""
        bucket, prefix = split_s3(location.prefix)
        picked = self.wanted_objects(bucket, prefix, location)
        read = []
        for obj, path in zip(picked, self.download(bucket, picked), strict=True):
            uri = f"s3://{bucket}/{obj.key}"
            source.files.setdefault(obj.partition, []).append(path)
            source.uris[path] = uri
            read.append((obj, uri))
        return read

    def wanted_objects(self, bucket: str, prefix: str, location: TableLocation) -> list[StoredObject]:
        """The objects under `prefix` whose partition value (its first `depth` path segments) the query reads,
        listed from the lowest wanted partition on and stopping past the highest."""
        paginator = self._s3().get_paginator("list_objects_v2")
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        wanted = location.wanted
        if wanted:
            low = min(a for a, _ in wanted)
            kwargs["StartAfter"] = prefix + low[:-1] if low else prefix
        high = max(b for _, b in wanted) if wanted else None
        picked: list[StoredObject] = []
        for page in paginator.paginate(**kwargs):
            for obj in page.get("Contents", []):
                segments = obj["Key"][len(prefix) :].split("/")
                if len(segments) <= location.depth or not segments[-1]:
                    continue  # not inside a partition folder, or a folder marker
                value = "/".join(segments[: location.depth])
                if high is not None and value > high:
                    return picked
                if location.holds(value):
                    picked.append(StoredObject(value, obj["Key"], obj.get("ETag", ""), int(obj.get("Size", 0))))
        return picked

    def download(self, bucket: str, picked: list[StoredObject]) -> list[Path]:
        """Local copies of the objects (cached by bucket, key and ETag); gzip objects get a `.gz` name."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        s3 = self._s3()

        def fetch(item: StoredObject) -> Path:
            digest = hashlib.sha256(f"{bucket}/{item.key}/{item.etag}".encode()).hexdigest()[:32]
            for candidate in (self.cache_dir / f"{digest}.json", self.cache_dir / f"{digest}.json.gz"):
                if candidate.exists():
                    with contextlib.suppress(OSError):
                        os.utime(candidate)  # recently used: pruned last
                    return candidate
            body = s3.get_object(Bucket=bucket, Key=item.key)["Body"].read()
            target = self.cache_dir / (f"{digest}.json.gz" if body[:2] == b"\x1f\x8b" else f"{digest}.json")
            tmp = target.with_name(target.name + f".{uuid.uuid4().hex}.part")
            tmp.write_bytes(body)
            os.replace(tmp, target)
            return target

        if len(picked) <= 1:
            return [fetch(item) for item in picked]
        with ThreadPoolExecutor(max_workers=DOWNLOAD_THREADS) as pool:
            return list(pool.map(fetch, picked))

    def prune(self, limit: int = CACHE_BYTES) -> None:
        """Drop the least recently used cached objects beyond `limit` bytes (`LOCAL_ATHENA_CACHE_MB`)."""
        if not self.cache_dir.is_dir():
            return
        entries = []
        for path in self.cache_dir.iterdir():
            with contextlib.suppress(OSError):
                stat = path.stat()
                entries.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= limit:
                break
            with contextlib.suppress(OSError):
                path.unlink()
                total -= size
