"""Decision records as the server holds them until the log encodes them (fields: `contract.records`), responses."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import orjson

from container.core.featurizer import Action
from container.core.policy import Decision
from contract.records import Record, decision_record
from contract.timefmt import iso_from_epoch

iso_now = iso_from_epoch
"""`iso_now(epoch_seconds=None)`: the contract's timestamp (`contract.timefmt`), which the server stamps."""


def _json_text(value: object) -> str:
    """The nested fields' JSON text, by orjson (one C call; the contract's `json_text` reads the same)."""
    return orjson.dumps(value).decode()


_UUID_KEEP = ((1 << 128) - 1) & ~(0xF000 << 64) & ~(0xC000 << 48)  # clear the version nibble and variant bits
_UUID_SET = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant


class EventIds:
    """Random (version 4) UUIDs from a per-process generator seeded by the OS.

    `uuid.uuid4()` reads `os.urandom` on every call; that system call releases the GIL and hands the event loop's
    thread over to the decision log's thread mid-request. Event ids need uniqueness (122 random bits), not secrecy.
    The bits are set and formatted directly: `str(uuid.UUID(int=..., version=4))` costs twice as much.
    """

    def __init__(self) -> None:
        self._random = random.Random()  # seeded from os.urandom, once per process (after any fork)

    def new(self) -> str:
        h = f"{(self._random.getrandbits(128) & _UUID_KEEP) | _UUID_SET:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def actions_json(candidates: list[Action]) -> str:
    """The candidates as the record's `actions` JSON text: `[{"id": ..., "features": {...}}, ...]`."""
    return _json_text([a.to_json() for a in candidates])


def response_json(event_id: str, decision: Decision, model_id: str) -> bytes:
    """The client's answer for one decision as JSON (orjson: one C call, faster than `json.dumps` on this shape)."""
    return orjson.dumps(
        {
            "event_id": event_id,
            "action": decision.action,
            "action_index": decision.action_index,
            "action_prob": decision.action_prob,
            "probabilities": decision.probabilities,
            "model_id": model_id,
        }
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
    challenger_model_id: str | None = None  # the rejected candidate mixed into `model_id`'s distribution
    line: bytes | None = None  # the encoded line, when the request path already had to measure it

    def as_dict(self) -> Record:
        """The contract's decision record: nested values as JSON text, as the Glue table's string columns expect."""
        decision = self.decision
        return decision_record(
            event_id=self.event_id,
            event_time=self.event_time,
            experiment_id=self.experiment_id,
            model_id=self.model_id,
            context=self.context,
            actions=self.actions if isinstance(self.actions, str) else [a.to_json() for a in self.actions],
            action=decision.action,
            action_index=decision.action_index,
            action_prob=decision.action_prob,
            probabilities=decision.probabilities,
            challenger_model_id=self.challenger_model_id,
            encode=_json_text,
        )

    def to_json_line(self) -> bytes:
        """One JSON text without a delimiter: the stream's AppendDelimiterToRecord processor adds the newline in S3.

        orjson writes UTF-8 (no `\\u` escapes) and refuses what JSON cannot hold (lone surrogates, ints over 64 bits:
        validation lets neither through); floats are finite here (validated inputs, normalised probabilities)."""
        if self.line is not None:
            return self.line
        return orjson.dumps(self.as_dict())


RECORD_EXPANSION = 8
"""At most this many record bytes per request-body byte. The record nests `context` and `actions` as JSON text, so
their strings are escaped twice: a quote or backslash (2 body bytes) becomes 4, a control character at most 7 for
6. A number grows at most 4.5x (`1e15` is written `1000000000000000.0`) and an `observation` entry at most 6x (`0,`
becomes the escaped `"x1023":0,`, with at most 1,024 entries). Bodies whose bound is under Firehose's record limit
skip the exact check; `tests/container/test_record_limit.py` checks the bound against adversarial bodies."""
RECORD_BYTES_PER_CANDIDATE = 64
"""A candidate's escaped `{"id":"","features":{}},` and its probability: what the body does not pay for."""


def fixed_record_bytes(experiment_id: str, model_id: str, known_actions_json: str) -> int:
    """Record bytes the body does not pay for: field names and punctuation, the server's ids and time (a string
    escapes to at most 6x), and the policy's own candidates' JSON text (escaped again: at most 2x)."""
    return 512 + 6 * len((experiment_id + model_id).encode()) + 2 * len(known_actions_json.encode())


def record_size_bound(body_bytes: int, candidates: int, fixed_bytes: int) -> int:
    """An upper bound on the size of any decision record a body of `body_bytes` makes (see RECORD_EXPANSION);
    `fixed_bytes` covers the fields the server supplies (ids, time, model, the policy's own candidates' JSON)."""
    return RECORD_EXPANSION * body_bytes + RECORD_BYTES_PER_CANDIDATE * candidates + fixed_bytes
