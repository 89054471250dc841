"""Every reliability scenario on one detached runtime, in order, and the per-fault-kind table of what they observed.

`run_all` is what the benchmark (`python -m bench reliability`, all failures and rollbacks) and the test
(`tests/local/test_reliability.py`, a shorter list) both run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from local.driver import DetachedRuntime
from local.reliability import integrity
from local.reliability.checks import KindRow, event_ids, kind_rows
from local.reliability.scenarios import FAILURES as FAILURE_KINDS
from local.reliability.scenarios import (
    SETTINGS,
    Session,
    bootstrap,
    execution_report,
    landing,
    quarantine_report,
    scenario_events,
    scenario_failure,
    scenario_garbage_rewards,
    scenario_recovery,
    scenario_rollback,
)

SERVED_KEYS = ("served",)
"""Observation keys holding every event id a load was answered (for the landing check; left out of results)."""


KIND_SCENARIOS: dict[str, str] = {
    "s3_events_duplicated_delayed_trigger_failing": "events",
    "garbage_reward_lines": "garbage_rewards",
    "bad_reward_lines": "recovery",
    "firehose_faults_and_blue_sigterm_under_load": "recovery",
    **{cohort: "integrity" for cohort in integrity.COHORTS if cohort != "newline_victims"},
    "execution_stopped_mid_deployment": "stop_mid_deployment",
    "gzip_bomb_reward_object": "gzip_bomb",
    "oversized_record_request": "bad_requests",
    "float32_overflowing_features": "bad_requests",
    "serve_worker_sigkilled_under_load": "worker_crash",
    "half_sent_requests": "half_sent",
    "endpoint_container_sigkilled_under_load": "container_crash",
    "endpoint_container_sigkilled_acknowledged": "acknowledged_container_crash",
}
"""The scenario that injects each fault kind (failure kinds run `scenario_failure`, `candidate_<k>_rolled_back`
`scenario_rollback`): what `run_all(only=...)` runs for a subset."""


def scenarios_for(kinds: Collection[str]) -> tuple[set[str], list[str], list[str]]:
    """The scenarios, failure kinds and rollback kinds a subset of fault kinds needs; an unknown kind is an error."""
    scenarios: set[str] = set()
    failures: list[str] = []
    rollbacks: list[str] = []
    for kind in kinds:
        if kind in KIND_SCENARIOS:
            scenarios.add(KIND_SCENARIOS[kind])
        elif kind in FAILURE_KINDS:
            failures.append(kind)
        elif kind.startswith("candidate_") and kind.endswith("_rolled_back"):
            rollbacks.append(kind.removeprefix("candidate_").removesuffix("_rolled_back"))
        else:
            known = sorted([*KIND_SCENARIOS, *FAILURE_KINDS, "candidate_<kind>_rolled_back"])
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(known)}")
    return scenarios, failures, rollbacks


def run_all(
    work: Path,
    failures: Sequence[str],
    rollbacks: Sequence[str],
    data_integrity: bool = True,
    only: Collection[str] | None = None,
) -> dict[str, Any]:
    """Every scenario on one runtime; the observations by scenario, and `kinds`: one row per fault kind.

    `only` (fault kinds, `KIND_SCENARIOS`) runs the bootstrap and just the scenarios those kinds need, with only the
    failure and rollback kinds named there (`failures` and `rollbacks` are then ignored)."""
    wanted: set[str] | None = None
    if only is not None:
        wanted, failures, rollbacks = scenarios_for(only)

    def want(name: str) -> bool:
        return wanted is None or name in wanted

    rt = DetachedRuntime(work / "state", SETTINGS).start(timeout=240)
    session = Session(rt)
    observations: dict[str, Any] = {}
    try:
        observations["bootstrap"] = bootstrap(session)
        if want("events"):
            observations["events"] = scenario_events(session)
        if want("garbage_rewards"):
            observations["garbage_rewards"] = scenario_garbage_rewards(session)
        observations["failures"] = {kind: scenario_failure(session, kind) for kind in failures}
        if want("recovery"):
            observations["recovery"] = scenario_recovery(session)
        session.observations["joined_before"] = set()
        observations["rollbacks"] = {kind: scenario_rollback(session, kind) for kind in rollbacks}
        observations["landing"] = landing(session)
        if data_integrity:
            run_integrity(session, work, observations, wanted)
        observations["executions"] = execution_report(rt, session)
        observations["quarantine"] = quarantine_report(rt, session)
        observations["injected"] = rt.faults()["injected"]
        observations["kinds"] = [row.__dict__ | {"clean": row.clean} for row in final_rows(rt, observations)]
    finally:
        rt.stop()
    return observations


def run_integrity(session: Session, work: Path, observations: dict[str, Any], wanted: set[str] | None = None) -> None:
    """Issue 14's faults, after the others (they leave decisions and rewards the earlier checks do not expect);
    `wanted` names the ones to run (all when None)."""

    def want(name: str) -> bool:
        return wanted is None or name in wanted

    half_sent: dict[str, Any] = {}

    def hold() -> None:
        try:
            half_sent.update(integrity.scenario_half_sent(session, work))
        except Exception as err:  # reported as the kind's failure, never hides the other kinds
            half_sent["error"] = f"{type(err).__name__}: {err}"

    holder = threading.Thread(target=hold, name="half-sent", daemon=True)
    if want("half_sent"):
        holder.start()
    steps = (
        ("bad_requests", lambda: integrity.scenario_bad_requests(session)),
        ("integrity", lambda: integrity.scenario_integrity(session)),
        ("stop_mid_deployment", lambda: integrity.scenario_stop_mid_deployment(session)),
        ("gzip_bomb", lambda: integrity.scenario_gzip_bomb(session)),
        ("worker_crash", lambda: integrity.scenario_worker_crash(session, work)),
    )
    for name, step in steps:
        if not want(name):
            continue
        try:
            observations[name] = step()
        except Exception as err:
            observations[name] = {"error": f"{type(err).__name__}: {err}"}
    if want("half_sent"):
        holder.join(timeout=180)
        observations["half_sent"] = half_sent
    last = (  # if the endpoint does not come back, nothing after them needs it
        ("container_crash", integrity.scenario_container_crash),
        ("acknowledged_container_crash", integrity.scenario_acknowledged_container_crash),
    )
    for name, scenario in last:
        if not want(name):
            continue
        try:
            observations[name] = scenario(session)
        except Exception as err:
            observations[name] = {"error": f"{type(err).__name__}: {err}"}


def _served(observations: dict[str, Any]) -> set[str]:
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in SERVED_KEYS and isinstance(item, list):
                    found.update(str(e) for e in item)
                else:
                    walk(item)

    walk(observations)
    return found


def final_rows(rt: DetachedRuntime, observations: dict[str, Any], timeout: float = 45.0) -> list[KindRow]:
    """The per-kind rows against what landed in S3 (waiting until every decision answered has landed, or timeout)."""
    served = _served(observations)
    deadline = time.monotonic() + timeout
    while True:
        landed = set(event_ids(rt.s3_lines("decisions/"))[0])
        if served <= landed or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    rows = kind_rows(observations, landed)
    for name in (
        "integrity",
        "stop_mid_deployment",
        "gzip_bomb",
        "bad_requests",
        "worker_crash",
        "half_sent",
        "container_crash",
        "acknowledged_container_crash",
    ):
        error = (observations.get(name) or {}).get("error")
        if error:
            rows.append(KindRow(f"{name}_scenario_error", note=str(error)[:300]))
    return rows


def without_served(value: Any) -> Any:
    """The observations without the (long) lists of served event ids."""
    if isinstance(value, dict):
        return {k: without_served(v) for k, v in value.items() if k not in SERVED_KEYS}
    if isinstance(value, list):
        return [without_served(v) for v in value]
    if isinstance(value, set):
        return sorted(value)
    return value
