"""What the reliability scenarios check, as pure functions: event ids of decision lines, the landing report,
overlapping executions, the bad reward lines and the counts the join must report for them, and the summaries."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from simulator.rewards import iso_time as iso


def event_ids(lines: Iterable[bytes | str]) -> tuple[list[str], int]:
    """The `event_id` of each JSON line (duplicates kept, in order) and the number of lines that had none."""
    ids: list[str] = []
    unreadable = 0
    for raw in lines:
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except ValueError:
            unreadable += 1
            continue
        if isinstance(value, dict) and isinstance(value.get("event_id"), str):
            ids.append(value["event_id"])
        else:
            unreadable += 1
    return ids, unreadable


def landing_report(served: Iterable[str], landed: Sequence[str]) -> dict[str, int]:
    """Served decisions against the `event_id`s of the decision lines in S3 (with their duplicates)."""
    served_set = set(served)
    copies = Counter(landed)
    found = served_set & set(copies)
    return {
        "records_served": len(served_set),
        "records_landed": len(found),
        "records_lost": len(served_set - found),
        "duplicate_lines": sum(n - 1 for event, n in copies.items() if event in served_set and n > 1),
        "landed_not_served": len(set(copies) - served_set),
    }


def overlapping(intervals: Sequence[tuple[float, float | None]]) -> int:
    """Pairs of executions whose [start, stop] overlap (a stop of None means still running)."""
    pairs = 0
    ordered = sorted(intervals, key=lambda i: i[0])
    for n, (_, stop) in enumerate(ordered):
        end = math.inf if stop is None else stop
        for other_start, _ in ordered[n + 1 :]:
            if other_start < end:
                pairs += 1
    return pairs


def bad_reward_lines(known: Sequence[tuple[str, float, float]], now: float, tag: str) -> dict[str, list[bytes]]:
    """Bad reward lines by kind. `known`: (event_id, event_time, reward) of decisions that also get a good reward,
    except the last `late` ones, which get only a reward far later than the wait (so their first reward is late).

    Kinds and how the join treats them (docs/reliability.md): `not_json`, `missing_event_id`, `non_numeric`,
    `nan`, `infinite` are malformed (counted, never joined); `unknown_event_id` is unmatched (counted);
    `duplicate` is a second, later reward for a decision (the first by `reward_time` is joined); `late` is
    counted as late and the decision gets the default reward."""
    t = iso(now)
    first, second = known[0][0], known[1][0]
    late = known[-3:]
    return {
        "not_json": [b"this is not json\n", b'{"event_id": "' + first.encode() + b'", "reward": 1\n'],
        "missing_event_id": [json.dumps({"reward": 1.0, "reward_time": t}).encode() + b"\n"],
        "non_numeric": [json.dumps({"event_id": second, "reward": "lots", "reward_time": t}).encode() + b"\n"],
        "nan": [b'{"event_id": "' + second.encode() + b'", "reward": NaN, "reward_time": "' + t.encode() + b'"}\n'],
        "infinite": [
            b'{"event_id": "' + second.encode() + b'", "reward": 1e400, "reward_time": "' + t.encode() + b'"}\n',
            b'{"event_id": "' + second.encode() + b'", "reward": -Infinity, "reward_time": "' + t.encode() + b'"}\n',
        ],
        "unknown_event_id": [
            json.dumps({"event_id": f"{tag}-unknown-{n}", "reward": 1.0, "reward_time": t}).encode() + b"\n"
            for n in range(3)
        ],
        "duplicate": [
            json.dumps({"event_id": event, "reward": 1.0 - reward, "reward_time": iso(at + 0.9)}).encode() + b"\n"
            for event, at, reward in known[2:5]
        ],
        "late": [
            json.dumps({"event_id": event, "reward": 1.0, "reward_time": iso(at + 3600)}).encode() + b"\n"
            for event, at, _ in late
        ],
    }


def garbage_reward_lines(tag: str, count: int, now: float) -> list[bytes]:
    """`count` lines sent to the rewards stream that are not reward records (docs/pipeline.md, "What the trigger
    counts"): none may count toward the threshold, so however many there are, no run starts on them."""
    t = iso(now)
    shapes = [
        lambda n: f"garbage {tag} {n}".encode(),
        lambda n: json.dumps({"note": f"{tag}-{n}"}).encode(),
        lambda n: json.dumps([tag, n]).encode(),
        lambda n: json.dumps({"event_id": n, "reward": 1.0, "reward_time": t}).encode(),
        lambda n: json.dumps({"event_id": f"{tag}-{n}", "reward": True, "reward_time": t}).encode(),
        lambda n: json.dumps({"event_id": f"{tag}-{n}", "reward": "high", "reward_time": t}).encode(),
        lambda n: json.dumps({"event_id": f"{tag}-{n}", "reward": 1.0}).encode(),
        lambda n: json.dumps({"event_id": f"{tag}-{n}", "reward": 1.0, "reward_time": "soon"}).encode(),
    ]
    return [shapes[n % len(shapes)](n) + b"\n" for n in range(count)]


def garbage_lines_malformed_for_the_join(count: int) -> int:
    """How many of `garbage_reward_lines(..., count, ...)` the join's count query reports as malformed rewards: all but
    the fourth shape, whose numeric `event_id` the string column reads as text (an unmatched reward to the join; the
    trigger, stricter, counts none of the lines)."""
    return sum(1 for n in range(count) if n % 8 != 3)


def expected_join_counts(bad: dict[str, list[bytes]]) -> dict[str, int]:
    """What the join's count query must report for `bad_reward_lines` (malformed, unmatched, late)."""
    malformed = sum(len(bad[k]) for k in ("not_json", "missing_event_id", "non_numeric", "nan", "infinite"))
    return {"malformed_rewards": malformed, "unmatched_rewards": len(bad["unknown_event_id"]), "late_rewards": 3}


def garbage_row(garbage: dict[str, Any]) -> KindRow:
    """No run starts and the counter does not move on lines that are not reward records, and the trigger survives
    them: each object they land in is recorded (a failed invocation leaves no record) with every line invalid."""
    counted = int(garbage["counter_after"]) - int(garbage["counter_before"])
    sent, judged = int(garbage["garbage_lines_sent"]), int(garbage.get("invalid_lines_recorded", 0))
    errors = int(garbage.get("trigger_errors", 0))
    return KindRow(
        "garbage_reward_lines",
        sent,
        duplicated=int(garbage["runs_started"]),
        corrupted=max(counted, 0),
        held=not garbage["runs_started"] and counted == 0 and judged == sent and errors == 0,
        note=f"runs started {garbage['runs_started']}, counter moved {counted}; {garbage.get('objects_counted')} "
        f"objects recorded with {judged} of {sent} lines invalid; trigger errors {errors}",
    )


def gzip_bomb_row(bomb: dict[str, Any]) -> KindRow:
    """The bomb must be recorded (the function survived it) as counted in part or with its invalid line reported,
    adding no record; the good object after it must be recorded with exactly its lines."""
    if "error" in bomb:
        return KindRow("gzip_bomb_reward_object", 1, lost=1, held=False, note=str(bomb["error"])[:300])
    record, good = bomb.get("bomb_record") or {}, bomb.get("good_record") or {}
    before = bomb.get("before_record") or {}
    counted = int(good.get("records", 0)) + int(before.get("records", 0))
    sent = int(bomb["good_lines"]) + int(bomb.get("before_lines", 0))
    survived = bool(record) and (record.get("complete") is False or int(record.get("invalid_lines", 0)) > 0)
    lost = max(0, sent - counted)
    corrupted = max(0, counted - sent) + int(record.get("records", 0))
    return KindRow(
        "gzip_bomb_reward_object",
        1,
        lost=lost,
        corrupted=corrupted,
        held=survived and bomb["trigger_errors"] == 0 and good.get("complete") is True and not (lost or corrupted),
        note=f"{bomb['bomb_bytes']} bytes inflating to {bomb['inflated_bytes']}: recorded "
        f"{ {k: record.get(k) for k in ('records', 'invalid_lines', 'stopped')} }; good objects {counted} of "
        f"{sent}; trigger errors {bomb['trigger_errors']}",
    )


def summarize(observations: dict[str, Any], injected: dict[str, int]) -> dict[str, Any]:
    """The benchmark's headline figures from the scenarios' observations."""
    serving = observations.get("serving") or {}
    runs = observations.get("failures") or {}
    rollbacks = observations.get("rollbacks") or {}
    events = observations.get("events") or {}
    garbage = observations.get("garbage_rewards") or {}
    return {
        "faults_injected": dict(sorted(injected.items())),
        "records_served": serving.get("records_served", 0),
        "records_landed": serving.get("records_landed", 0),
        "records_lost": serving.get("records_lost", 0),
        # runs started for no crossing, plus pairs of runs ever in flight together, over the whole session
        "duplicate_executions": events.get("duplicate_executions", 0)
        + (observations.get("executions") or {}).get("overlapping", 0),
        # lines that are not reward records must neither move the counter nor start a run
        "runs_started_by_garbage_rewards": garbage.get("runs_started", 0),
        "garbage_rewards_counted": garbage.get("counter_after", 0) - garbage.get("counter_before", 0),
        "runs_failed_cleanly": sum(1 for r in runs.values() if r.get("failed_cleanly")),
        "runs_failed": len(runs),
        "rollbacks": sum(1 for r in rollbacks.values() if r.get("rolled_back_cleanly")),
        "rollbacks_attempted": len(rollbacks),
        "decisions_per_s_under_faults": serving.get("decisions_per_s"),
    }


# The per-kind table -------------------------------------------------------------------------------------------


@dataclass
class KindRow:
    """One fault kind's figures. `served`: decisions answered 200 (or logged, for a crossing's decisions); `landed`:
    of those, found in S3; `joined`: found in the run's join; `lost`: should have been joined or landed and were not;
    `duplicated`: extra rows or extra runs; `corrupted`: a row (or registry/counter value) that is not the genuine
    one; `unlogged`: answered 200 but never in S3; `held`: the kind's own condition (docs/reliability.md)."""

    kind: str
    injected: int = 0
    served: int = 0
    landed: int = 0
    joined: int = 0
    lost: int = 0
    duplicated: int = 0
    corrupted: int = 0
    unlogged: int = 0
    held: bool = False
    note: str = ""

    @property
    def clean(self) -> bool:
        return self.held and not (self.lost or self.duplicated or self.corrupted or self.unlogged)


def served_row(kind: str, served: Iterable[str], landed: set[str], injected: int, held: bool, note: str) -> KindRow:
    """A load's row: what it was answered against what landed (answered but not landed = unlogged and lost)."""
    served_set = set(served)
    found = served_set & landed
    missing = len(served_set - found)
    return KindRow(kind, injected, len(served_set), len(found), 0, missing, 0, 0, missing, held, note)


def refused_row(kind: str, answers: Sequence[dict[str, Any]], status: int, landed: set[str], corrupts: bool) -> KindRow:
    """Requests that must be refused with `status` (and, where given, an error naming the field). One answered 200
    is either a decision the log cannot deliver (unlogged) or, when `corrupts`, a decision made on values the policy
    cannot read (corrupted)."""
    answered = {str(r["event_id"]) for r in answers if r["status"] == 200 and r.get("event_id")}
    row = KindRow(kind, len(answers), len(answered), len(answered & landed))
    row.held = all(r["status"] == status and r.get("names_field", True) for r in answers)
    if corrupts:
        row.corrupted = len(answered)
    else:
        row.unlogged = row.lost = len(answered - landed)
    row.note = f"statuses {[r['status'] for r in answers]}"
    return row


def _count(injected: dict[str, int], *keys: str) -> int:
    return sum(int(injected.get(k, 0)) for k in keys)


def kind_rows(observations: dict[str, Any], landed: set[str]) -> list[KindRow]:
    """Every fault kind the scenarios injected, as one row each (missing scenarios are left out)."""
    rows: list[KindRow] = []
    events = observations.get("events")
    if events and "error" not in events:
        faults = events.get("trigger_faults") or {}
        drift = int(events.get("counted_records_lost_or_doubled", 0))
        held = (
            drift == 0
            and events["executions_started"] == events["expected_executions"]
            and not events["duplicate_executions"]
            and not events["overlapping_executions"]
            and events["run_outcomes"] == ["SUCCEEDED", "SUCCEEDED"]
            and events["lock_after"] == {}
        )
        rows.append(
            KindRow(
                "s3_events_duplicated_delayed_trigger_failing",
                _count(faults, *faults),
                0,
                0,
                0,
                max(drift, 0),
                int(events["duplicate_executions"]) + max(-drift, 0),
                0,
                0,
                held,
                f"{events['records_written']} reward records counted; {events['executions_started']} runs",
            )
        )
    garbage = observations.get("garbage_rewards")
    if garbage:
        rows.append(garbage_row(garbage))
    for kind, failure in (observations.get("failures") or {}).items():
        rows.append(
            KindRow(
                kind,
                max(
                    1,
                    _count(
                        failure.get("injected") or {}, "job_failure", "job_timeout", "lambda_error", "lambda_timeout"
                    ),
                ),
                corrupted=int(bool(failure.get("deployed"))) + int(not failure.get("counter_consistent", False)),
                held=bool(failure.get("failed_cleanly")),
                note=str(failure.get("status")),
            )
        )
    recovery = observations.get("recovery")
    if recovery and "error" not in recovery:
        join, expected = recovery.get("join") or {}, recovery.get("join_expected") or {}
        held = (
            recovery["status"] == "SUCCEEDED"
            and recovery["first_reward_wins_for_duplicates"]
            and recovery["late_rewards_defaulted"]
            and join.get("late_rewards") == expected.get("late_rewards")
        )
        rows.append(
            KindRow(
                "bad_reward_lines",  # the window's decisions are logged ones (the failed runs' too): all landed
                sum(recovery["bad_reward_lines"].values()),
                int(recovery["joined_distinct_event_ids"]),
                int(recovery["joined_distinct_event_ids"]),
                int(recovery["joined_distinct_event_ids"]),
                0,
                int(recovery["joined_rows_read"]) - int(recovery["joined_distinct_event_ids"]),
                int(not recovery["first_reward_wins_for_duplicates"]) + int(not recovery["late_rewards_defaulted"]),
                0,
                held,
                f"join counts {join}",
            )
        )
        injected = recovery.get("injected_so_far") or {}
        rows.append(
            served_row(
                "firehose_faults_and_blue_sigterm_under_load",
                recovery.get("served") or [],
                landed,
                _count(injected, "firehose_throttle", "firehose_partial_failure_records", "firehose_lost_response"),
                bool(recovery["blue_stopped"]) and recovery["load"]["server_errors"] == 0,
                f"{recovery['load']['decisions_per_s']} decisions/s",
            )
        )
    for kind, rollback in (observations.get("rollbacks") or {}).items():
        if "error" in rollback:
            rows.append(KindRow(f"candidate_{kind}_rolled_back", 1, note=rollback["error"]))
            continue
        row = served_row(
            f"candidate_{kind}_rolled_back",
            rollback.get("served") or [],
            landed,
            1,
            bool(rollback["rolled_back_cleanly"]),
            str(rollback.get("outcome")),
        )
        row.joined = int(rollback["joined_rows"])
        row.lost += int(rollback["served_missing_from_join"])
        row.corrupted = int(rollback["joined_not_served_or_logged"])
        rows.append(row)
    rows.extend(integrity_rows(observations, landed))
    return rows


def integrity_rows(observations: dict[str, Any], landed: set[str]) -> list[KindRow]:
    """The rows of issue 14's faults (`local.reliability.integrity`)."""
    rows: list[KindRow] = []

    def seen(name: str) -> dict[str, Any]:  # a scenario that raised is reported by the runner, not here
        value = observations.get(name) or {}
        return {} if "error" in value else value

    integrity = seen("integrity")
    cohorts = integrity.get("cohorts") or {}
    victims = cohorts.get("newline_victims") or {}
    for cohort, figures in cohorts.items():
        if cohort in ("normal", "newline_victims"):
            continue
        joined, lost, corrupted = figures["joined"], figures["lost"], figures["corrupted"]
        decisions, duplicated = figures["decisions"], figures["duplicated"]
        if cohort == "records_without_newline":  # the careful producer's records are the victims
            joined, lost = joined + victims.get("joined", 0), lost + victims.get("lost", 0)
            corrupted, decisions = corrupted + victims.get("corrupted", 0), decisions + victims.get("decisions", 0)
            duplicated += victims.get("duplicated", 0)
        rows.append(
            KindRow(
                cohort,
                figures["injected"],
                decisions,
                decisions,
                joined,
                lost,
                duplicated,
                corrupted,
                0,
                integrity.get("status") == "SUCCEEDED" and not (lost or duplicated or corrupted),
                json.dumps(figures.get("corrupted_sample") or [])[:300],
            )
        )
    stop = seen("stop_mid_deployment")
    if stop:
        rows.append(
            KindRow(
                "execution_stopped_mid_deployment",
                int(bool(stop.get("stopped_mid_deployment"))),
                corrupted=int(not stop.get("registry_agrees")),
                held=bool(
                    stop.get("stopped_mid_deployment") and stop.get("registry_agrees") and stop.get("lock_released")
                ),
                note=f"answering {stop.get('models_answering')}, registry {stop.get('registry_serving_model')}, "
                f"status {stop.get('status')}"
                if "error" not in stop
                else stop["error"],
            )
        )
    bomb = seen("gzip_bomb")
    if bomb:
        rows.append(gzip_bomb_row(bomb))
    bad = seen("bad_requests")
    if bad:
        rows.append(refused_row("oversized_record_request", bad["oversized_record"], 413, landed, corrupts=False))
        rows.append(refused_row("float32_overflowing_features", bad["float32_overflow"], 400, landed, corrupts=True))
    crash = seen("worker_crash")
    if crash:
        rows.append(
            served_row(
                "serve_worker_sigkilled_under_load",
                crash["served"],
                landed,
                1,
                bool(crash["replaced"]) and crash["answers_from_1s_after_kill"] > 0,
                f"replaced {crash['replaced']}, supervisor alive {crash['supervisor_alive_after_kill']}, "
                f"answers after the kill {crash['answers_from_1s_after_kill']}",
            )
        )
    half = seen("half_sent")
    if half:
        rows.append(
            served_row(
                "half_sent_requests",
                half["served"],
                landed,
                int(half["connections"]),
                half["closed"] == half["connections"] and half["answered_while_held"] > 0,
                f"{half['closed']}/{half['connections']} closed by the server, last after "
                f"{half['closed_after_s_max']} s (idle timeout {half['idle_timeout_s']} s)",
            )
        )
    for name, kind in (
        ("container_crash", "endpoint_container_sigkilled_under_load"),
        ("acknowledged_container_crash", "endpoint_container_sigkilled_acknowledged"),
    ):
        container = seen(name)
        if container:
            rows.append(
                served_row(
                    kind,
                    container["served"],
                    landed,
                    1,
                    bool(container["recovered"]),
                    f"recovered {container['recovered']}, errors {container['load']['errors']}, "
                    f"probe {container['probe_after_12s']['errors']}, endpoint {container['endpoint_status']}",
                )
            )
    return rows


def kind_table(rows: Sequence[KindRow]) -> str:
    """The rows as a Markdown table (docs/reliability.md, the benchmark's output)."""
    head = "| kind | injected | served | landed | joined | lost | duplicated | corrupted | unlogged | holds |"
    lines = [head, "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r.kind} | {r.injected} | {r.served} | {r.landed} | {r.joined} | {r.lost} | {r.duplicated} | "
            f"{r.corrupted} | {r.unlogged} | {'yes' if r.clean else 'NO'} |"
        )
    return "\n".join(lines)
