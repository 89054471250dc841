"""The reward-record rule the trigger counts by: the join's `valid_reward`, clause by clause."""

from __future__ import annotations

import json

import pytest
from pipeline_common.reward_record import record_problem, reward_problem, reward_value

TIME = "2026-11-23T00:29:00.000Z"


@pytest.mark.parametrize("reward", [0, 1, 0.5, -2.5, "0.5", "-1e3", "1E+2", 1.0e308, -1.0e308])
def test_finite_numbers_and_strings_holding_them_are_rewards(reward: object) -> None:
    assert record_problem({"event_id": "e", "reward": reward, "reward_time": TIME}) is None


@pytest.mark.parametrize(
    "reward",
    [
        None,
        True,
        False,
        "lots",
        "",
        " 0.5",
        "+0.5",
        "1_000",
        "nan",
        "inf",
        float("nan"),
        float("inf"),
        1.5e308,
        10**400,
        [1],
        {"v": 1},
    ],
)
def test_anything_the_join_would_not_read_as_a_finite_reward_is_not_one(reward: object) -> None:
    assert reward_value(reward) is None
    assert record_problem({"event_id": "e", "reward": reward, "reward_time": TIME}) is not None


@pytest.mark.parametrize(
    "record",
    [
        {"reward": 1.0, "reward_time": TIME},
        {"event_id": None, "reward": 1.0, "reward_time": TIME},
        {"event_id": 7, "reward": 1.0, "reward_time": TIME},
        {"event_id": "e", "reward_time": TIME},
        {"event_id": "e", "reward": 1.0},
        {"event_id": "e", "reward": 1.0, "reward_time": 1764000000},
        {"event_id": "e", "reward": 1.0, "reward_time": "2026-11-23T00:29:00Z"},
        {"event_id": "e", "reward": 1.0, "reward_time": "2026-13-23T00:29:00.000Z"},
        {"event_id": "e", "reward": 1.0, "reward_time": "2026-11-23T25:29:00.000Z"},
        [1, 2],
        "text",
    ],
)
def test_records_missing_a_field_or_with_a_bad_one_are_not_rewards(record: object) -> None:
    assert reward_problem(json.dumps(record).encode()) is not None


@pytest.mark.parametrize("line", [b"", b"not json", b"{", b"\xff\xfe", b"[" * 100_000, b"1" * 5000])
def test_lines_that_are_not_json_values_are_not_rewards(line: bytes) -> None:
    assert reward_problem(line) is not None


def test_the_contract_record_is_a_reward() -> None:
    line = json.dumps({"event_id": "0b8f", "reward": 1.0, "reward_time": TIME}).encode()
    assert reward_problem(line) is None
