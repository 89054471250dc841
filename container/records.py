"""Decision records and responses: the contract's field names and formats in one place."""

from __future__ import annotations

import json
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

from container.featurizer import Action
from container.policy import Decision

_COMPACT = (",", ":")
_second_cache: tuple[int, str] = (-1, "")


def iso_now(now: float | None = None) -> str:
    """ISO-8601 UTC with milliseconds and `Z` (string order is time order, which the join relies on)."""
    global _second_cache
    millis = round((time.time() if now is None else now) * 1000)
    seconds, fraction = divmod(millis, 1000)
    if _second_cache[0] != seconds:
        _second_cache = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{_second_cache[1]}.{fraction:03d}Z"


class EventIds:
    """Random (version 4) UUIDs from a per-process generator seeded by the OS.

    `uuid.uuid4()` reads `os.urandom` on every call; that system call releases the GIL and hands the event loop's
    thread over to the decision log's thread mid-request. Event ids need uniqueness (122 random bits), not secrecy.
    """

    def __init__(self) -> None:
        self._random = random.Random()  # seeded from os.urandom, once per process (after any fork)

    def new(self) -> str:
        return str(uuid.UUID(int=self._random.getrandbits(128), version=4))


def actions_json(candidates: list[Action]) -> str:
    """The candidates as the record's `actions` JSON text: `[{"id": ..., "features": {...}}, ...]`."""
    return json.dumps([a.to_json() for a in candidates], separators=_COMPACT)


def response_json(event_id: str, decision: Decision, model_id_json: str) -> str:
    """The client's answer for one decision as JSON text, formatted directly (the hottest serialisation).

    Strings go through `json.dumps` (escaping); probabilities are finite floats, whose `repr` is valid JSON."""
    probabilities = ",".join(map(repr, decision.probabilities))
    return (
        f'{{"event_id":{json.dumps(event_id)},"action":{json.dumps(decision.action)},'
        f'"action_index":{decision.action_index},"action_prob":{decision.action_prob!r},'
        f'"probabilities":[{probabilities}],"model_id":{model_id_json}}}'
    )


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """A logged decision, kept as Python values until the drainer thread encodes it (off the request path)."""

    event_id: str
    event_time: str
    experiment_id: str
    model_id: str
    context: dict[str, Any]
    actions: str | list[Action]
    decision: Decision

    def as_dict(self) -> dict[str, Any]:
        """The record's fields: nested values as JSON text, as the Glue table's string columns expect."""
        actions = self.actions if isinstance(self.actions, str) else actions_json(self.actions)
        return {
            "event_id": self.event_id,
            "event_time": self.event_time,
            "experiment_id": self.experiment_id,
            "model_id": self.model_id,
            "context": json.dumps(self.context, separators=_COMPACT),
            "actions": actions,
            "action": self.decision.action,
            "action_index": self.decision.action_index,
            "action_prob": self.decision.action_prob,
            "probabilities": json.dumps(self.decision.probabilities, separators=_COMPACT),
        }

    def to_json_line(self) -> bytes:
        """One JSON line (Firehose concatenates records; the newline keeps them apart in S3)."""
        return (json.dumps(self.as_dict(), separators=_COMPACT, allow_nan=False) + "\n").encode("utf-8")
