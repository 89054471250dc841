"""`decision_acknowledgement: firehose`: a decision is answered only once the decision log delivered its record, so
losing the instance (its disk and spool with it) loses no answered decision; a refused delivery answers 503."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from container_helpers import call, running

from container.core.policy import Policy
from container.serving.app import DecisionApp
from container.serving.decision_log import (
    DecisionLogger,
    FileSink,
    UnknownAcknowledgement,
    logger_from_env,
)
from container.serving.serve import check_environment
from contract.settings import SettingsError, parse_settings


class _Gated:
    """A sink that takes records only when released: the window between spooled and delivered, held open."""

    def __init__(self, fail: bool = False) -> None:
        self.records: list[bytes] = []
        self.release = threading.Event()
        self.fail = fail

    def deliver(self, records: Sequence[bytes], stop: threading.Event | None = None) -> None:
        self.release.wait(30)
        if self.fail:
            raise RuntimeError("stream refused")
        self.records.extend(records)


def _record(i: int) -> dict:
    return {"event_id": f"ev-{i}", "action": "a", "action_prob": 0.5}


def test_the_delivery_resolves_only_once_the_sink_has_the_records() -> None:
    sink = _Gated()
    logger = DecisionLogger(sink, linger_seconds=0, acknowledge=True)
    delivery = logger.log_many([_record(0), _record(1)])
    assert delivery is not None
    assert not delivery.done() and sink.records == []
    sink.release.set()
    assert delivery.result(10) is True
    assert [json.loads(r)["event_id"] for r in sink.records] == ["ev-0", "ev-1"]
    logger.close(10)


def test_a_spooling_logger_promises_nothing() -> None:
    logger = DecisionLogger(_Gated(), linger_seconds=0)
    assert logger.log_many([_record(0)]) is None
    logger.close(0.1)


def test_a_refused_delivery_answers_503_and_a_delivered_one_200() -> None:
    refusing = _Gated(fail=True)
    refusing.release.set()
    app = DecisionApp(
        Policy.uniform(["a", "b"], seed=1), DecisionLogger(refusing, linger_seconds=0, acknowledge=True), "exp"
    )
    status, body = asyncio.run(app.handle_acknowledged("POST", "/invocations", b'{"context": {"x": 1}}'))
    assert status == 503 and "could not be logged" in json.loads(body)["error"]
    app.logger.close(10)

    keeping = _Gated()
    keeping.release.set()
    app = DecisionApp(
        Policy.uniform(["a", "b"], seed=1), DecisionLogger(keeping, linger_seconds=0, acknowledge=True), "exp"
    )
    status, body = asyncio.run(app.handle_acknowledged("POST", "/invocations", b'{"context": {"x": 1}}'))
    assert status == 200 and [json.loads(r)["event_id"] for r in keeping.records] == [json.loads(body)["event_id"]]
    assert asyncio.run(app.handle_acknowledged("GET", "/ping", b""))[0] == 200  # nothing to deliver, no wait
    app.logger.close(10)


def test_every_answer_over_http_is_already_in_the_log(tmp_path: Path) -> None:
    """Concurrent clients on the production server: at the moment each 200 arrives its record is in the file."""
    path = tmp_path / "decisions.jsonl"
    logger = logger_from_env({"DECISIONS_LOG_PATH": str(path), "DECISIONS_ACKNOWLEDGEMENT": "firehose"}, path)
    assert logger.acknowledge and isinstance(logger.sink, FileSink)
    app = DecisionApp(Policy.uniform(["a", "b", "c"], seed=2), logger, "exp")

    def one(port: int, i: int) -> bool:
        status, answer = call(port, "POST", "/invocations", json.dumps({"context": {"i": i}}).encode())
        assert status == 200
        # only whole lines: the drainer may be writing a later batch (another client's) while this reads
        *complete, _partial = path.read_text().split("\n")
        logged = {json.loads(line)["event_id"] for line in complete}
        return bool(answer["event_id"] in logged)

    with running(app) as port, ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda i: one(port, i), range(200)))
    logger.close(10)
    assert len(found) == 200 and all(found)


def test_the_mode_is_validated_in_settings_and_before_serve_starts(tmp_path: Path) -> None:
    assert parse_settings({"decision_acknowledgement": "firehose"}).decision_acknowledgement == "firehose"
    assert parse_settings({}).decision_acknowledgement == "spool"
    with pytest.raises(SettingsError, match="decision_acknowledgement"):
        parse_settings({"decision_acknowledgement": "disk"})
    problem = check_environment({"DECISIONS_ACKNOWLEDGEMENT": "disk"})
    assert problem is not None and "DECISIONS_ACKNOWLEDGEMENT is 'disk'" in problem and "firehose" in problem
    with pytest.raises(UnknownAcknowledgement):
        logger_from_env({"DECISIONS_ACKNOWLEDGEMENT": "disk"}, tmp_path / "d.jsonl")
