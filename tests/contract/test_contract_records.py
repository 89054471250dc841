"""Records: one builder, the fields in the contract's order, all Glue strings; producers' records agree with it."""

from __future__ import annotations

import json

from contract.records import (
    DECISION_COLUMNS,
    DECISION_FIELDS,
    JOINED_COLUMNS,
    REWARD_COLUMNS,
    REWARD_FIELDS,
    decision_record,
    glue_columns,
    json_line,
    json_text,
    reward_record,
)

DECISION = {
    "event_id": "e1",
    "event_time": "2026-11-23T00:31:01.123Z",
    "experiment_id": "exp",
    "model_id": "m1",
    "context": {"hour": 9, "device": "mobilé"},
    "actions": [{"id": "a", "features": {}}, {"id": "b", "features": {"p": 2}}],
    "action": "b",
    "action_index": 1,
    "action_prob": 0.75,
    "probabilities": [0.25, 0.75],
}


def test_every_column_is_a_glue_string_in_record_order() -> None:
    assert [name for name, _ in glue_columns(DECISION_FIELDS)] == list(DECISION_COLUMNS)
    assert {kind for _, kind in glue_columns(DECISION_FIELDS + REWARD_FIELDS)} == {"string"}
    assert REWARD_COLUMNS == ("event_id", "reward", "reward_time")
    assert (*DECISION_COLUMNS, "reward", "reward_time") == JOINED_COLUMNS


def test_a_decision_record_nests_json_text_and_keeps_the_field_order() -> None:
    record = decision_record(**DECISION)
    assert tuple(record) == DECISION_COLUMNS
    assert json.loads(str(record["context"])) == DECISION["context"]
    assert json.loads(str(record["actions"])) == DECISION["actions"]
    assert json.loads(str(record["probabilities"])) == DECISION["probabilities"]
    line = json_line(record)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == record
    assert "mobilé".encode() in line  # UTF-8 kept, as the container's orjson writes it


def test_actions_already_encoded_are_kept_as_they_are() -> None:
    text = json_text(DECISION["actions"])
    assert decision_record(**{**DECISION, "actions": text})["actions"] == text


def test_the_container_builds_its_records_with_the_contract() -> None:
    from container.core.featurizer import Action
    from container.core.policy import Decision
    from container.core.records import DecisionRecord

    decision = Decision(action="b", action_index=1, action_prob=0.75, probabilities=[0.25, 0.75])
    actions = [Action("a"), Action("b", {"p": 2})]
    logged = DecisionRecord("e1", DECISION["event_time"], "exp", "m1", DECISION["context"], actions, decision)
    assert json.loads(logged.to_json_line()) == json.loads(json_line(decision_record(**DECISION)))


def test_the_simulators_records_are_the_contracts() -> None:
    from simulator.rewards import RewardRecord

    assert RewardRecord("e1", 1.0, DECISION["event_time"]).to_line() == json_line(
        reward_record("e1", 1.0, DECISION["event_time"])
    )
