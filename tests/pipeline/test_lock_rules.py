"""Stale run-lock rules: which lock holders can no longer release their lock."""

from __future__ import annotations

import pytest
from pipeline_common.lock_rules import ENDED, LIVE, execution_arn, lock_is_stale

MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:bandit-demo-retrain"


def test_execution_arn_names_the_run_under_the_state_machine() -> None:
    assert (
        execution_arn(MACHINE, "bandit-demo-20261123T000000")
        == "arn:aws:states:eu-west-1:123456789012:execution:bandit-demo-retrain:bandit-demo-20261123T000000"
    )


@pytest.mark.parametrize("arn", ["", "arn:aws:lambda:eu-west-1:1:function:f", "arn:aws:states:r:1:stateMachine:"])
def test_execution_arn_rejects_what_is_not_a_state_machine(arn: str) -> None:
    with pytest.raises(ValueError, match="state machine ARN"):
        execution_arn(arn, "run")


@pytest.mark.parametrize("status", sorted(ENDED))
def test_a_started_lock_whose_execution_ended_is_stale(status: str) -> None:
    assert lock_is_stale(True, status) is True


@pytest.mark.parametrize("status", ["RUNNING", "PENDING_REDRIVE"])
def test_a_live_execution_keeps_its_lock(status: str) -> None:
    """PENDING_REDRIVE is a DescribeExecution status: a redriven execution that runs again and will release it."""
    assert status in LIVE
    assert lock_is_stale(True, status) is False


def test_a_started_lock_with_no_execution_is_stale() -> None:
    assert lock_is_stale(True, None) is True


@pytest.mark.parametrize("status", [None, "RUNNING", "ABORTED"])
def test_an_unconfirmed_start_is_never_stale(status: str | None) -> None:
    """The trigger re-issues an unconfirmed start (idempotent) rather than taking the lock away."""
    assert lock_is_stale(False, status) is False


def test_an_unknown_status_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError, match="PAUSED"):
        lock_is_stale(True, "PAUSED")


def test_an_unconfirmed_start_is_abandoned_only_after_the_grace() -> None:
    from datetime import UTC, datetime, timedelta

    from pipeline_common.lock_rules import START_GRACE_SECONDS, start_abandoned

    taken = datetime(2026, 11, 23, tzinfo=UTC)
    assert START_GRACE_SECONDS > 60  # the trigger's timeout: a live holder is never overtaken
    assert not start_abandoned(taken, taken + timedelta(seconds=START_GRACE_SECONDS - 1))
    assert start_abandoned(taken, taken + timedelta(seconds=START_GRACE_SECONDS))
