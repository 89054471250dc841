"""What a well-formed reward line is, in Python: the rule the trigger counts by and the join's SQL agrees with.

The join keeps a reward line when `join_sql.valid_reward` holds; the trigger counts a line toward the retraining
threshold only when `reward_problem` finds nothing wrong with it, so garbage can neither start a run nor be joined.
Clause by clause (docs/contracts.md "Records"; the Glue columns are read as strings and converted by the SQL):

- the line is a JSON object (the OpenX JSON SerDe gives a line that is not one no columns);
- `event_id` is a string (`<alias>.event_id IS NOT NULL`; the contract's ids are strings);
- `reward` is a finite number, as a JSON number or as a string holding one (`try_cast(reward AS double)` is not
  NULL and `BETWEEN -1.0E308 AND 1.0E308`): `0.5` and `"0.5"` are rewards, `"lots"`, `true`, `NaN`, `1e400` are not;
- `reward_time` is a string in the contract's one timestamp format that names a real time (`regexp_like(x,
  ISO_MS_Z)` and `try(from_iso8601_timestamp(x))`). The contract lets a client omit it, but the producer fills it
  before the line reaches Firehose, and the join cannot place a reward without it, so a line without it in the data
  lake is malformed.

Where the two engines would accept more than this rule (Trino's `CAST` of `' 0.5'`, `'+0.5'` or `'1d'` to double
follows Java's `Double.parseDouble`), the rule is the stricter one: a reward the trigger leaves uncounted is still
joined (the count only decides when a run starts), while a counted line the join drops would start runs on garbage.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from contract.timefmt import is_iso_ms_z
from pipeline_common.join_sql import FINITE_LIMIT

_NUMBER_TEXT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
"""A number written as JSON writes one: the strings every engine's cast to double reads the same way."""


def reward_value(value: Any) -> float | None:
    """The reward as the join reads it (`try_cast(reward AS double)` within the finite bound), or None."""
    if isinstance(value, bool):
        return None  # JSON true/false: the SerDe's text 'true' does not cast to double
    if isinstance(value, str):
        if not _NUMBER_TEXT.fullmatch(value):
            return None
        value = float(value)
    if not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None  # an integer beyond float range
    if math.isnan(number) or not -FINITE_LIMIT <= number <= FINITE_LIMIT:
        return None
    return number


def record_problem(record: Any) -> str | None:
    """Why a parsed line is not a reward record, or None when it is one."""
    if not isinstance(record, dict):
        return f"not a JSON object but a JSON {type(record).__name__}"
    if not isinstance(record.get("event_id"), str):
        return "event_id is missing or not a string"
    if reward_value(record.get("reward")) is None:
        return "reward is missing or not a finite number"
    if not is_iso_ms_z(record.get("reward_time")):
        return "reward_time is missing or not an ISO-8601 UTC time with milliseconds and Z"
    return None


def reward_problem(line: bytes) -> str | None:
    """Why one line of a reward object is not a reward record, or None when it is one."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return "not JSON"
    return record_problem(record)
