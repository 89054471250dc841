"""Decision records and responses keep the contract's fields and formats."""

from __future__ import annotations

import json
import re
import uuid

from container.core.featurizer import Action
from container.core.policy import Decision
from container.core.records import DecisionRecord, EventIds, iso_now, response_json


def test_response_json_is_valid_json_with_escaped_strings() -> None:
    decision = Decision(1, 'b"\\\u00e9', 0.25, [0.75, 0.25])
    body = json.loads(response_json('id "1"\n', decision, "model \u2603"))
    assert body == {
        "event_id": 'id "1"\n',
        "action": 'b"\\\u00e9',
        "action_index": 1,
        "action_prob": 0.25,
        "probabilities": [0.75, 0.25],
        "model_id": "model \u2603",
    }


def test_record_fields_are_json_text_where_the_table_has_strings() -> None:
    decision = Decision(0, "a", 0.9, [0.9, 0.1])
    record = DecisionRecord("e1", iso_now(0.5), "exp", "m", {"x": 1}, [Action("a"), Action("b", {"p": 2})], decision)
    line = record.to_json_line()
    assert b"\n" not in line  # the stream's AppendDelimiterToRecord processor delimits records
    fields = json.loads(line)
    assert fields["event_time"] == "1970-01-01T00:00:00.500Z"
    assert json.loads(fields["context"]) == {"x": 1}
    assert json.loads(fields["actions"]) == [{"id": "a", "features": {}}, {"id": "b", "features": {"p": 2}}]
    assert json.loads(fields["probabilities"]) == [0.9, 0.1]
    assert (fields["action"], fields["action_index"], fields["action_prob"]) == ("a", 0, 0.9)


def test_event_time_format_sorts_as_time() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", iso_now())
    assert iso_now(1.999) < iso_now(2.0) < iso_now(2.001)


def test_event_ids_are_unique_version_4_uuids() -> None:
    ids = EventIds()
    values = {ids.new() for _ in range(10_000)}
    assert len(values) == 10_000
    assert all(uuid.UUID(v).version == 4 for v in list(values)[:100])


def test_record_line_is_utf8_and_round_trips_non_ascii_and_64_bit_values() -> None:
    decision = Decision(0, "\u00e9", 1.0, [1.0])
    context = {"caf\u00e9": "\u2603", "big": 18446744073709551615, "neg": -(2**63), "f": 0.1}
    line = DecisionRecord("e", iso_now(), "exp", "m", context, [Action("\u00e9")], decision).to_json_line()
    assert "\u2603".encode() in line
    assert json.loads(json.loads(line)["context"]) == context
