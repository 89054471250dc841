"""The HTTP face of the policy: `GET /ping` and `POST /invocations` (SageMaker's contract), transport-free.

The request path is parse, validate, featurize, predict, sample, enqueue the record, answer; `container.server`
feeds it method, path and body and writes back status and JSON.
"""

from __future__ import annotations

import json
from typing import Any

from container.decision_log import DecisionLogger
from container.invocations import InvalidRequest, Invocation, parse_invocation
from container.policy import NoActionsError, Policy
from container.records import DecisionRecord, EventIds, actions_json, iso_now, response_json


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


class DecisionApp:
    """Answers decisions with `policy` and hands every decision record to `logger`."""

    def __init__(self, policy: Policy, logger: DecisionLogger, experiment_id: str, model_id: str | None = None):
        self.policy = policy
        self.logger = logger
        self.experiment_id = experiment_id
        self.model_id = model_id or policy.model_id
        self._known_actions_json = actions_json(policy.actions)
        self._event_ids = EventIds()

    def handle(self, method: str, path: str, body: bytes | InvalidRequest) -> tuple[int, bytes]:
        """One HTTP exchange without the transport: status and JSON body (the server is `container.server`)."""
        if path == "/invocations":
            if method != "POST":
                return 405, _dumps({"error": "use POST", "field": "method"})
            return self._invocations(body)
        if path == "/ping":
            if method not in ("GET", "HEAD"):
                return 405, _dumps({"error": "use GET", "field": "method"})
            if self.policy.probe():
                return 200, _dumps({"status": "ok", "model_id": self.model_id})
            return 503, _dumps({"status": "policy does not answer", "model_id": self.model_id})
        return 404, _dumps({"error": f"no route {path}", "field": "path"})

    def _invocations(self, body: bytes | InvalidRequest) -> tuple[int, bytes]:
        try:
            if isinstance(body, InvalidRequest):
                raise body
            return 200, self.decide_all(parse_invocation(body))
        except InvalidRequest as error:
            return 400, _dumps(error.to_json())
        except NoActionsError as error:
            return 400, _dumps({"error": str(error), "field": "actions"})

    def decide_all(self, invocation: Invocation) -> bytes:
        """Decide every request first, then log: a batch with one bad request logs nothing. Returns the JSON body."""
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
                DecisionRecord(event_id, now, self.experiment_id, self.model_id, request.context, logged, decision)
            )
        for record in records:
            self.logger.log(record)
        return b'{"predictions":[' + b",".join(answers) + b"]}" if invocation.batch else answers[0]
