"""Fixtures for the simulator: a real `serve` subprocess, the local Firehose into S3, small classification files."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sim_fixtures import BUCKET, DECISIONS_STREAM, REWARDS_STREAM, ServeProcess, delivery_streams

from local.aws import client
from local.gateway import Gateway


@pytest.fixture(scope="session")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    process = ServeProcess(tmp_path_factory.mktemp("serve"))
    yield process
    process.stop()


@pytest.fixture(scope="session")
def local_firehose(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """The local gateway (no engines): Firehose applies the streams' AppendDelimiterToRecord processor at delivery,
    as the stack's streams do; moto alone concatenates records as sent."""
    gateway = Gateway(port=0, state_dir=tmp_path_factory.mktemp("gateway"), engines=False, firehose_buffer_seconds=0.2)
    gateway.start()
    yield gateway
    gateway.close()


@pytest.fixture
def aws(local_firehose: Gateway) -> Iterator[dict[str, Any]]:
    """A fresh bucket and the two Firehose streams delivering into its Firehose layout; `flush()` delivers what the
    streams buffer."""
    bucket = f"{BUCKET}-{uuid.uuid4().hex[:8]}"
    delivery_streams(local_firehose, bucket, {REWARDS_STREAM: "rewards/", DECISIONS_STREAM: "decisions/"})
    assert local_firehose.firehose is not None
    yield {
        "s3": client("s3", endpoint_url=local_firehose.url),
        "firehose": client("firehose", endpoint_url=local_firehose.url),
        "bucket": bucket,
        "flush": local_firehose.firehose.flush_all,
    }


@pytest.fixture
def classification_files(tmp_path: Path) -> dict[str, Path]:
    """The same 60 rows (3 classes, label depends on x0) comma- and space-separated."""
    rows = []
    for i in range(60):
        x0, x1 = i % 3, (i * 7) % 11
        rows.append((x0, x1, 0.5 * i, x0 + 1))
    comma = tmp_path / "data.csv"
    comma.write_text("\n".join(",".join(str(v) for v in row) for row in rows) + "\n")
    space = tmp_path / "data.txt"
    space.write_text("# a comment\n" + "\n".join("  ".join(str(v) for v in row) for row in rows) + "\n\n")
    return {"comma": comma, "space": space}
