"""`serve` as SageMaker runs it (a subprocess): SIGTERM mid-load loses no served decision.

Once with the JSON-lines file sink, once with Firehose (moto's server as the stand-in, records land in S3)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from container_helpers import firehose_to_s3, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


def _wait_ready(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/ping")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("serve did not become ready")


def _load(port: int, served: list[str], stop: threading.Event) -> None:
    """Keep-alive client: send decisions until the server goes away; remember every event id answered with 200."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    while not stop.is_set():
        try:
            connection.request("POST", "/invocations", body=b'{"context": {"x0": 0.4, "x1": 0.7}}')
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            return
        if response.status == 200:
            served.append(json.loads(body)["event_id"])


def _serve_and_terminate(model_root: Path, env: dict[str, str]) -> tuple[list[str], str]:
    port = free_port()
    environ = {
        **os.environ,
        **env,
        "SM_ML_ROOT": str(model_root),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "SERVE_WORKERS": "2",
        "PYTHONPATH": str(REPO_ROOT),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "container", "serve"],
        cwd=REPO_ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_ready(port, process)
        served: list[str] = []
        stop = threading.Event()
        clients = [threading.Thread(target=_load, args=(port, served, stop)) for _ in range(4)]
        for client in clients:
            client.start()
        time.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
        stop.set()
        for client in clients:
            client.join(10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert len(served) > 50, output
    return served, output


@pytest.fixture
def serving_root(model_dir: Path, tmp_path: Path) -> Path:
    (tmp_path / "model").mkdir()
    for name in ("vw.model", "metadata.json"):
        (tmp_path / "model" / name).write_bytes((model_dir / name).read_bytes())
    return tmp_path


def test_sigterm_flushes_every_decision_to_the_file_sink(serving_root: Path) -> None:
    log = serving_root / "decisions.jsonl"
    served, output = _serve_and_terminate(serving_root, {"DECISIONS_LOG_PATH": str(log), "DECISIONS_STREAM": ""})
    logged = [json.loads(line)["event_id"] for line in log.read_text().splitlines()]
    assert len(logged) == len(set(logged))  # the file sink never duplicates
    assert set(served) <= set(logged), output
    assert len(logged) - len(served) <= 8  # at most the requests in flight when the clients saw the close


def test_sigterm_flushes_every_decision_to_firehose(serving_root: Path) -> None:
    from moto.server import ThreadedMotoServer

    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        s3 = firehose_to_s3(endpoint, "lake", "decisions")
        served, output = _serve_and_terminate(
            serving_root,
            {"DECISIONS_STREAM": "decisions", "AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": "us-east-1"},
        )
        logged: list[str] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="lake", Prefix="decisions/"):
            for item in page.get("Contents", []):
                body = s3.get_object(Bucket="lake", Key=item["Key"])["Body"].read().decode()
                logged += [json.loads(line)["event_id"] for line in body.splitlines() if line]
    finally:
        moto.stop()
    assert set(served) <= set(logged), output
    assert len(set(logged)) - len(served) <= 8
