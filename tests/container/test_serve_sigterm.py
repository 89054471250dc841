"""`serve` as SageMaker runs it (a subprocess): SIGTERM mid-load loses no served decision, nor does a worker killed
mid-load (it is replaced at once; its spool is delivered by its replacement).

Once with the JSON-lines file sink, once with Firehose (moto's server as the stand-in, records land in S3)."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest
from container_helpers import firehose_to_s3, start_serve


def _load(port: int, served: list[str], stop: threading.Event, reconnect: bool = False) -> None:
    """Keep-alive client: send decisions until the server goes away (or, with `reconnect`, until `stop`: a request
    in flight to a killed worker fails and the client opens a new connection); remember every event id answered 200.
    """
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    while not stop.is_set():
        try:
            connection.request("POST", "/invocations", body=b'{"context": {"x0": 0.4, "x1": 0.7}}')
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            if not reconnect:
                return
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            continue
        if response.status == 200:
            served.append(json.loads(body)["event_id"])


def _under_load(port: int, clients: int = 4, reconnect: bool = False) -> tuple[list[str], threading.Event, list]:
    served: list[str] = []
    stop = threading.Event()
    threads = [threading.Thread(target=_load, args=(port, served, stop, reconnect)) for _ in range(clients)]
    for thread in threads:
        thread.start()
    return served, stop, threads


def _serve_and_terminate(model_root: Path, env: dict[str, str]) -> tuple[list[str], str]:
    process, port = start_serve(model_root, env)
    try:
        served, stop, clients = _under_load(port)
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


def test_sigterm_flushes_every_decision_to_firehose(serving_root: Path, tmp_path: Path) -> None:
    """Through the local Firehose (moto behind the gateway), which applies the stream's AppendDelimiterToRecord
    processor as the stack's streams do: the records the workers send carry no newline of their own."""
    from local.gateway import Gateway

    gateway = Gateway(port=0, state_dir=tmp_path / "gateway", engines=False, firehose_buffer_seconds=0.2).start()
    try:
        s3 = firehose_to_s3(gateway.url, "lake", "decisions")
        served, output = _serve_and_terminate(
            serving_root,
            {"DECISIONS_STREAM": "decisions", "AWS_ENDPOINT_URL": gateway.url, "AWS_DEFAULT_REGION": "us-east-1"},
        )
        assert gateway.firehose is not None
        gateway.firehose.flush_all()
        logged: list[str] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="lake", Prefix="decisions/"):
            for item in page.get("Contents", []):
                body = s3.get_object(Bucket="lake", Key=item["Key"])["Body"].read().decode()
                logged += [json.loads(line)["event_id"] for line in body.splitlines()]
    finally:
        gateway.close()
    assert set(served) <= set(logged), output
    assert len(set(logged)) - len(served) <= 8


def _workers(pid: int) -> set[int]:
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_a_killed_worker_is_replaced_and_every_answered_decision_lands(serving_root: Path) -> None:
    """SIGKILL one of two workers under load: the container keeps serving (the other worker, then the replacement
    too), and every decision answered 200, by the killed worker as well, is in the log once the container stops."""
    log = serving_root / "decisions.jsonl"
    process, port = start_serve(serving_root, {"DECISIONS_LOG_PATH": str(log), "DECISIONS_STREAM": ""})
    try:
        served, stop, clients = _under_load(port, clients=8, reconnect=True)
        time.sleep(1.0)
        before = _workers(process.pid)
        assert len(before) == 2
        killed = max(before, key=_cpu_ticks)  # the busier one: the kernel may hand one worker every connection
        os.kill(killed, signal.SIGKILL)
        answered_at_kill = len(served)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(_workers(process.pid) - before) == 0:
            time.sleep(0.05)
        replacement = _workers(process.pid) - before
        assert len(replacement) == 1 and killed not in _workers(process.pid)
        time.sleep(1.5)  # the replacement loads the policy, delivers the dead worker's spool and serves
        assert process.poll() is None, "the container went down with one worker"
        assert len(served) > answered_at_kill + 50
        stop.set()
        for client in clients:
            client.join(10)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "starting a replacement" in output
    logged = [json.loads(line)["event_id"] for line in log.read_text().splitlines()]
    missing = set(served) - set(logged)
    assert not missing, f"{len(missing)} answered decisions never logged\n{output}"
    recovered = sum(int(n) for n in re.findall(r"recovered=(\d+)", output))
    assert recovered > 0, output  # the killed worker's undelivered records came from its spool


def test_workers_do_not_outlive_a_killed_supervisor(serving_root: Path) -> None:
    """SIGKILL of the supervisor alone (no process group): its workers get SIGTERM from the kernel, drain and exit,
    instead of keeping the port that a restarted container binds."""
    log = serving_root / "decisions.jsonl"
    process, _ = start_serve(serving_root, {"DECISIONS_LOG_PATH": str(log), "DECISIONS_STREAM": ""})
    workers = _workers(process.pid)
    assert len(workers) == 2
    process.kill()
    process.wait(10)
    deadline = time.monotonic() + 30
    alive = workers
    while alive and time.monotonic() < deadline:
        alive = {pid for pid in alive if Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)}
        time.sleep(0.1)
    assert not alive, f"workers {alive} outlived their supervisor"


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"
