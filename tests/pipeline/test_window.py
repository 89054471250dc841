"""The run window and the moment its join may start (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline_common.window import Window, join_after, plan_window

CROSSING = datetime(2026, 11, 23, 2, 0, 0, 400000, tzinfo=UTC)


def test_a_triggered_window_ends_at_the_crossing() -> None:
    window = plan_window("2026-11-23T01:00:00.000Z", CROSSING, 0)
    assert window == Window(datetime(2026, 11, 23, 1, tzinfo=UTC), CROSSING)


def test_a_run_started_by_hand_ends_its_window_one_reward_wait_ago() -> None:
    window = plan_window(None, CROSSING, 300)
    assert window is not None and (CROSSING - window.end).total_seconds() == 300


def test_nothing_new_since_the_watermark_is_no_window() -> None:
    assert plan_window("2026-11-23T02:00:00.400Z", CROSSING, 0) is None


def test_the_join_waits_the_reward_wait_plus_the_delivery_lag_rounded_up_to_the_second() -> None:
    window = Window(datetime(2026, 11, 23, 1, tzinfo=UTC), CROSSING)
    assert join_after(window, 300, 90) == datetime(2026, 11, 23, 2, 6, 31, tzinfo=UTC)
    assert join_after(window, 1, 2.5) == datetime(2026, 11, 23, 2, 0, 4, tzinfo=UTC)
    whole = Window(window.start, datetime(2026, 11, 23, 2, tzinfo=UTC))
    assert join_after(whole, 1, 2) == datetime(2026, 11, 23, 2, 0, 3, tzinfo=UTC)
