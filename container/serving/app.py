"""The HTTP face of the policy: `GET /ping` and `POST /invocations` (SageMaker's contract), transport-free.

The request path is parse, validate, featurize, predict, sample, enqueue the record, answer; `container.serving.server`
feeds it method, path and body and writes back status and JSON: `handle` answers once the records are spooled,
`handle_acknowledged` (a coroutine) once the decision log delivered them, or 503 if it could not.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import Future
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from container.core.policy import NoActionsError, ServingPolicy
from container.core.producer import MAX_RECORD_BYTES
from container.core.records import (
    RECORD_EXPANSION,
    DecisionRecord,
    EventIds,
    actions_json,
    fixed_record_bytes,
    iso_now,
    record_size_bound,
    response_json,
)
from container.serving.decision_log import DecisionLogger
from container.serving.invocations import MAX_ACTIONS, InvalidRequest, Invocation, RequestTooLarge, parse_invocation

if TYPE_CHECKING:  # the server module imports uvicorn; this module stays transport-free
    from container.serving.server import AsyncHandler, Handler


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


Delivery = Future[bool] | None
"""The decision log's promise for an answer's records (None: nothing to wait for)."""
_UNDELIVERED = _dumps(
    {
        "error": "the decision could not be logged (the decisions stream refused it); retry the request",
        "field": None,
    }
)


class DecisionApp:
    """Answers decisions with `policy` and hands every decision record to `logger`."""

    def __init__(self, policy: ServingPolicy, logger: DecisionLogger, experiment_id: str, model_id: str | None = None):
        self.policy = policy
        self.logger = logger
        self.experiment_id = experiment_id
        self.model_id = model_id or policy.model_id
        self.challenger_model_id = policy.challenger_model_id
        self._known_actions_json = actions_json(policy.actions)
        self._event_ids = EventIds()
        fixed = fixed_record_bytes(
            experiment_id, self.model_id + (self.challenger_model_id or ""), self._known_actions_json
        )
        candidates = max(MAX_ACTIONS, len(policy.actions))
        # the largest body none of whose records can exceed Firehose's record limit (the bound is linear in the body)
        self._unchecked_body_bytes = (MAX_RECORD_BYTES - record_size_bound(0, candidates, fixed)) // RECORD_EXPANSION

    @property
    def http_handler(self) -> Handler | AsyncHandler:
        """What the server calls: `handle_acknowledged` when the logger acknowledges deliveries, else `handle`."""
        return self.handle_acknowledged if self.logger.acknowledge else self.handle

    def handle(self, method: str, path: str, body: bytes | InvalidRequest) -> tuple[int, bytes]:
        """One HTTP exchange without the transport: status and JSON body (the server is `container.serving.server`)."""
        status, payload, _ = self._dispatch(method, path, body)
        return status, payload

    async def handle_acknowledged(self, method: str, path: str, body: bytes | InvalidRequest) -> tuple[int, bytes]:
        """`handle`, answering a decision only once its record is delivered (503 if the stream refused it): for
        a logger with `acknowledge`, so no answered decision is lost with the instance."""
        status, payload, delivery = self._dispatch(method, path, body)
        if delivery is not None and not await asyncio.wrap_future(delivery):
            return 503, _UNDELIVERED
        return status, payload

    def _dispatch(self, method: str, path: str, body: bytes | InvalidRequest) -> tuple[int, bytes, Delivery]:
        if path == "/invocations":
            if method != "POST":
                return 405, _dumps({"error": "use POST", "field": "method"}), None
            return self._invocations(body)
        if path == "/ping":
            if method not in ("GET", "HEAD"):
                return 405, _dumps({"error": "use GET", "field": "method"}), None
            if self.policy.probe():
                return 200, _dumps({"status": "ok", "model_id": self.model_id}), None
            return 503, _dumps({"status": "policy does not answer", "model_id": self.model_id}), None
        return 404, _dumps({"error": f"no route {path}", "field": "path"}), None

    def _invocations(self, body: bytes | InvalidRequest) -> tuple[int, bytes, Delivery]:
        try:
            if isinstance(body, InvalidRequest):  # the server refuses a body only for its size (over MAX_BODY_BYTES)
                raise RequestTooLarge(body.field, body.message)
            answer, delivery = self._decide(parse_invocation(body, len(self.policy.actions)))
            return 200, answer, delivery
        except InvalidRequest as error:
            return error.status, _dumps(error.to_json()), None
        except NoActionsError as error:
            return 400, _dumps({"error": str(error), "field": "actions"}), None

    def decide_all(self, invocation: Invocation) -> bytes:
        """Decide every request first, then log: a batch with one bad request logs nothing. Returns the JSON body."""
        return self._decide(invocation)[0]

    def _decide(self, invocation: Invocation) -> tuple[bytes, Delivery]:
        answers: list[bytes] = []
        records: list[DecisionRecord] = []
        now = iso_now()
        for request in invocation.requests:
            candidates = self.policy.candidates(request.actions)
            decision = self.policy.decide(request.context, candidates)
            event_id = request.event_id or self._event_ids.new()
            answers.append(response_json(event_id, decision, self.model_id))
            logged = self._known_actions_json if candidates is self.policy.actions else candidates
            records.append(
                DecisionRecord(
                    event_id,
                    now,
                    self.experiment_id,
                    self.model_id,
                    request.context,
                    logged,
                    decision,
                    self.challenger_model_id,
                )
            )
        if invocation.body_bytes is None or invocation.body_bytes > self._unchecked_body_bytes:
            records = self._deliverable(records, invocation.batch)
        delivery = self.logger.log_many(records)  # in the spool when this returns: the answer may go out
        return (b'{"predictions":[' + b",".join(answers) + b"]}" if invocation.batch else answers[0]), delivery

    def _deliverable(self, records: list[DecisionRecord], batch: bool) -> list[DecisionRecord]:
        """Encode the records of a body big enough to make one over Firehose's record limit: refuse the whole
        request (413, naming the instance) if any is, else keep the lines so the drainer does not encode again."""
        checked = []
        for index, record in enumerate(records):
            line = record.to_json_line()
            if len(line) > MAX_RECORD_BYTES:
                raise RequestTooLarge(
                    f"instances[{index}]" if batch else "body",
                    f"makes a decision record of {len(line):,} bytes once encoded (nested JSON text is escaped); "
                    f"Firehose accepts at most {MAX_RECORD_BYTES:,} bytes (1,000 KiB) per record",
                )
            checked.append(replace(record, line=line))
        return checked
