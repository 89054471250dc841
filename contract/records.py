"""The decision and reward records: their fields, the Glue column type of each, and their JSON encoding.

A record is one JSON object per line. The nested values of a decision (`context`, `actions`, `probabilities`) are
JSON text inside it, so the Glue tables hold only scalar columns. Every column is a Glue `string`: the OpenX JSON
SerDe fails a whole query on one value that does not fit a typed column, so the join SQL converts the strings itself
and counts what does not convert (docs/contracts.md, "Records" and "Glue tables").

`decision_record` and `reward_record` are the one place the field names and their order are written; producers
pass their own JSON encoder for the nested text when they have a faster one (the container's orjson), any compact
JSON encoder gives a record the join reads the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from contract.timefmt import ISO_MS_Z

JsonScalar = str | int | float | None
Record = dict[str, JsonScalar]
"""A record as its JSON object: scalar values only (nested values are JSON text)."""


@dataclass(frozen=True)
class Field:
    """One field of a record: its name, what a producer writes there, and its Glue column type."""

    name: str
    meaning: str
    glue_type: str = "string"


DECISION_FIELDS: tuple[Field, ...] = (
    Field("event_id", "UUID of the decision, the key rewards refer to"),
    Field("event_time", f"when the decision was made, {ISO_MS_Z}"),
    Field("experiment_id", "the experiment whose endpoint decided"),
    Field("model_id", "the policy that decided"),
    Field("context", "JSON text: the request's context object"),
    Field("actions", 'JSON text: the candidates, [{"id": str, "features": {...}}, ...]'),
    Field("action", "id of the chosen candidate"),
    Field("action_index", "integer index of the chosen candidate in `actions`"),
    Field("action_prob", "the propensity of the chosen candidate, in (0, 1]"),
    Field("probabilities", "JSON text: the distribution over `actions`, in their order"),
    Field(
        "challenger_model_id",
        "the rejected candidate whose `challenger_share` was mixed into `model_id`'s distribution (the logged "
        "`probabilities` are the mixture's); null when `model_id` decided alone",
    ),
)
REWARD_FIELDS: tuple[Field, ...] = (
    Field("event_id", "the decision this reward is for"),
    Field("reward", "a finite number"),
    Field("reward_time", f"when the reward was observed, {ISO_MS_Z} (the producer fills it when a client omits it)"),
)
DECISION_COLUMNS: tuple[str, ...] = tuple(f.name for f in DECISION_FIELDS)
REWARD_COLUMNS: tuple[str, ...] = tuple(f.name for f in REWARD_FIELDS)
JOINED_COLUMNS: tuple[str, ...] = (*DECISION_COLUMNS, "reward", "reward_time")
"""A joined row (the join's output, the input of train and evaluate): a decision with its reward and reward time
(`reward_time` null when the default reward was applied)."""


def glue_columns(fields: Sequence[Field]) -> tuple[tuple[str, str], ...]:
    """`(name, glue type)` pairs of a table's columns, in record order."""
    return tuple((f.name, f.glue_type) for f in fields)


def json_text(value: object) -> str:
    """Compact JSON text with UTF-8 characters kept (the encoding of the nested fields and of whole lines)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def decision_record(
    *,
    event_id: str,
    event_time: str,
    experiment_id: str,
    model_id: str,
    context: Mapping[str, object],
    actions: Sequence[Mapping[str, object]] | str,
    action: str,
    action_index: int,
    action_prob: float,
    probabilities: Sequence[float],
    challenger_model_id: str | None = None,
    encode: Callable[[object], str] = json_text,
) -> Record:
    """A decision record; `actions` may already be JSON text (a policy's own candidates, encoded once)."""
    return {
        "event_id": event_id,
        "event_time": event_time,
        "experiment_id": experiment_id,
        "model_id": model_id,
        "context": encode(context),
        "actions": actions if isinstance(actions, str) else encode(actions),
        "action": action,
        "action_index": action_index,
        "action_prob": action_prob,
        "probabilities": encode(probabilities),
        "challenger_model_id": challenger_model_id,
    }


def reward_record(event_id: str, reward: float, reward_time: str) -> Record:
    """A reward record, as a client sends it to the rewards stream."""
    return {"event_id": event_id, "reward": reward, "reward_time": reward_time}


def json_record(record: Record) -> bytes:
    """One record as a producer sends it to Firehose: compact JSON, no delimiter (each delivery stream's
    `AppendDelimiterToRecord` processor puts the newline between records in S3)."""
    return json_text(record).encode("utf-8")


def json_line(record: Record) -> bytes:
    """One record as one line of a JSON-lines object or file (what Firehose writes to S3 for each record)."""
    return json_record(record) + b"\n"
