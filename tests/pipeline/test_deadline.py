"""Polling-loop limits: the start stamps a deadline, the status check gives up past it, and the settings keep every
limit longer than what it waits on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pipeline_common import deadline
from pipeline_common.config import RunSettings
from pipeline_common.errors import InvalidEvent, StepTimedOut
from pipeline_common.payloads import Fields
from pipeline_common.sagemaker_requests import MAX_TRAINING_SECONDS, deployment_config
from pipeline_common.timefmt import iso, now

from contract.settings import (
    TRAINING_JOB_MAX_RUNTIME_SECONDS,
    SettingsError,
    parse_settings,
    rollout_timeout_seconds,
)


def run_settings(**overrides: int) -> RunSettings:
    return RunSettings.from_json(parse_settings(overrides).to_json())


@pytest.mark.parametrize("step", deadline.STEPS)
def test_a_start_stamps_the_steps_limit_from_the_settings(step: str) -> None:
    stamp = deadline.stamp(step, run_settings())
    assert stamp.timeout_seconds == getattr(parse_settings({}), f"{step}_timeout_seconds")
    assert stamp.at > now() + timedelta(seconds=stamp.timeout_seconds - 5)
    payload = stamp.to_payload()
    assert payload == {"deadline": iso(stamp.at), "timeout_seconds": stamp.timeout_seconds}
    assert deadline.Deadline.from_fields(Fields(payload)) == stamp  # what the status check reads back


def test_a_step_in_progress_past_its_deadline_times_out_naming_step_and_limit() -> None:
    deadline.enforce("join", deadline.Deadline(now() + timedelta(seconds=60), 2400), "RUNNING")
    passed = now() - timedelta(seconds=1)
    with pytest.raises(StepTimedOut, match=r"^deployment still Updating after its limit of 7200 s \(deadline "):
        deadline.enforce("deployment", deadline.Deadline(passed, 7200), "Updating")


def test_a_progress_payload_without_a_deadline_is_an_invalid_event() -> None:
    with pytest.raises(InvalidEvent, match=r"'payload\.training\.deadline' is missing"):
        deadline.Deadline.from_fields(Fields({"job_name": "j"}, "payload.training"))
    with pytest.raises(InvalidEvent, match=r"not an ISO-8601 timestamp: 'soon'"):
        deadline.Deadline.from_fields(Fields({"deadline": "soon", "timeout_seconds": 60}))


def test_the_settings_formulas_match_the_requests_the_lambdas_send() -> None:
    """infra/settings.py cannot import the Lambda code: it repeats two numbers, checked here."""
    assert TRAINING_JOB_MAX_RUNTIME_SECONDS == MAX_TRAINING_SECONDS
    for instances in (1, 3):
        for canary, termination in ((0, 0), (300, 120), (3600, 3600)):
            sent = deployment_config(
                instance_count=instances,
                canary_percent=10,
                canary_wait_seconds=canary,
                termination_wait_seconds=termination,
                alarm_names=[],
            )["BlueGreenUpdatePolicy"]["MaximumExecutionTimeoutInSeconds"]
            assert rollout_timeout_seconds(canary, termination) == sent


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ({"deployment_timeout_seconds": 4020}, "deployment_timeout_seconds"),  # = the default rollout's timeout
        ({"canary_wait_seconds": 3600, "termination_wait_seconds": 3600}, "deployment_timeout_seconds"),
        ({"training_timeout_seconds": 14400}, "training_timeout_seconds"),
        ({"evaluation_timeout_seconds": 600}, "evaluation_timeout_seconds"),
        ({"join_timeout_seconds": 10}, "join_timeout_seconds"),
        ({"run_timeout_seconds": 3600}, "run_timeout_seconds"),
        ({"reward_wait_seconds": 86400, "run_timeout_seconds": 43320}, "run_timeout_seconds"),
        ({"run_timeout_seconds": True}, "run_timeout_seconds"),
    ],
)
def test_limits_shorter_than_what_they_wait_on_are_refused(raw: dict[str, int], name: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings(raw)
    assert caught.value.name == name


def test_the_default_limits_are_valid_and_the_run_outlasts_its_steps() -> None:
    settings = parse_settings({})
    steps = sum(getattr(settings, f"{step}_timeout_seconds") for step in deadline.STEPS)
    assert settings.run_timeout_seconds > settings.reward_wait_seconds + 900 + steps
    assert settings.deployment_timeout_seconds > rollout_timeout_seconds(
        settings.canary_wait_seconds, settings.termination_wait_seconds
    )
