"""The step payloads of the retrain state machine, one dataclass per step result (docs/pipeline.md, "Payloads").

Each handler parses its input once, at its edge, with `from_fields` (a malformed field raises `InvalidEvent` naming
it, `payload.join.query_execution_id`), works on the dataclass, and returns `to_payload()`: the JSON the state
machine stores under the step's `ResultPath` and its Choice states read (`$.join.state`, `$.join.enough_rows`,
`$.training.status`, `$.evaluation.status`, `$.evaluation.promote`, `$.deployment.status`; the ASL tests pin them).
Reading and writing follow the field types (`payloads.read`/`write`): `FLAT` parts stand in their parent's object,
`WHEN_KNOWN` fields are left out while None (what a step learns only later, like a job's artifact).

The states are StrEnums: a state is one of its values, and the payload holds the string the contract names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from pipeline_common.deadline import Deadline
from pipeline_common.errors import InvalidEvent
from pipeline_common.payloads import FLAT, WHEN_KNOWN, Fields, PayloadObject, key
from pipeline_common.window import Window

T = TypeVar("T")


class ModelState(StrEnum):
    """A model registry row's `state` (docs/contracts.md)."""

    TRAINING = "training"
    CANDIDATE = "candidate"
    SERVING = "serving"
    REJECTED = "rejected"
    ROLLED_BACK = "rolled_back"
    RETIRED = "retired"
    FAILED = "failed"


class JoinState(StrEnum):
    """The join's state, in the joins table and in `$.join.state`."""

    PLANNED = "PLANNED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class JobStatus(StrEnum):
    """A SageMaker job (training or evaluation) as the run sees it (`jobs.job_state`)."""

    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"


class DeploymentStatus(StrEnum):
    """Where a rollout stands (`$.deployment.status`)."""

    IN_PROGRESS = "in_progress"
    DEPLOYED = "deployed"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"


class DeploymentMode(StrEnum):
    CREATE = "create"
    UPDATE = "update"


class Outcome(StrEnum):
    """What a run amounted to (`last_outcome` in the experiments table, `$.result.outcome`)."""

    PROMOTED = "promoted"
    BOOTSTRAPPED = "bootstrapped"
    REJECTED = "rejected"
    SKIPPED = "skipped"
    ROLLED_BACK = "rolled_back"
    ROLLBACK_DEPLOYED = "rollback_deployed"
    ROLLBACK_REVERTED = "rollback_reverted"
    FAILED = "failed"


@dataclass(frozen=True)
class RunInput(PayloadObject):
    """The execution input (docs/contracts.md): a triggered run's window, reward count and join time; a run started
    by hand has `{"bootstrap": true}` or `{"rollback_to": MODEL_ID}`."""

    window: Window | None = None
    reward_count: int = 0
    join_after: str | None = None
    bootstrap: bool = False
    rollback_to: str | None = None


@dataclass(frozen=True)
class JoinCounts(PayloadObject):
    """What the count query found, once both queries SUCCEEDED (flat in `$.join`)."""

    rows: int
    defaulted_rows: int
    malformed_rewards: int
    out_of_range_rewards: int
    unmatched_rewards: int
    backdated_rewards: int
    duplicate_rewards: int
    late_rewards: int
    malformed_decisions: int
    duplicate_decisions: int
    quarantined_lines: int
    data_scanned_bytes: int
    enough_rows: bool


@dataclass(frozen=True)
class JoinResult(PayloadObject):
    """`$.join`: the two Athena queries of the run's window, and their counts once both SUCCEEDED."""

    run_id: str
    window: Window
    query_execution_id: str
    count_query_execution_id: str
    output_prefix: str
    bootstrap: bool
    state: JoinState
    deadline: Deadline = field(metadata=FLAT)
    counts: JoinCounts | None = field(default=None, metadata=FLAT)
    quarantine_query_execution_id: str | None = None
    """None only for a join started before the quarantine query existed: it is judged on the other two."""
    quarantine_prefix: str | None = None

    @property
    def enough_rows(self) -> bool:
        return self.counts is not None and self.counts.enough_rows


@dataclass(frozen=True)
class TrainingResult(PayloadObject):
    """`$.training`: the candidate's training job (job name = model_id) and, once Completed, its artifact."""

    model_id: str
    job_name: str
    parent_model_id: str | None
    warm_start: bool
    status: JobStatus
    deadline: Deadline = field(metadata=FLAT)
    secondary_status: str | None = field(default=None, metadata=WHEN_KNOWN)
    artifact_uri: str | None = field(default=None, metadata=WHEN_KNOWN)
    adapting_to_drift: bool | None = field(default=None, metadata=WHEN_KNOWN)
    """True while the serving model is off its prediction (a change the evaluator recorded): more exploration."""
    training_since: str | None = field(default=None, metadata=WHEN_KNOWN)
    """Set when the candidate starts a new lineage on every joined row logged after the recorded change."""


@dataclass(frozen=True)
class Interval(PayloadObject):
    """An estimate with its confidence interval; None where the evaluator had no finite number."""

    value: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class ServingEstimate(PayloadObject):
    """The serving policy's estimate, and what served: a registered model or the logging policy."""

    interval: Interval = field(metadata=FLAT)
    kind: str | None = None
    model_id: str | None = None


@dataclass(frozen=True)
class Drift(PayloadObject):
    """The evaluator's check of the serving model's realized reward against the band its promoting evaluation
    predicted (`evaluation.json`'s `drift`, trimmed); what `store.record_drift` keeps on the model's row when
    `detected`. Absent numbers are left out (a check without a change has no `change_after`)."""

    detected: bool
    serving_model_id: str | None = field(default=None, metadata=WHEN_KNOWN)
    direction: str | None = field(default=None, metadata=WHEN_KNOWN)
    rows: int | None = field(default=None, metadata=WHEN_KNOWN)
    realized_mean: float | None = field(default=None, metadata=WHEN_KNOWN)
    expected_low: float | None = field(default=None, metadata=WHEN_KNOWN)
    expected_high: float | None = field(default=None, metadata=WHEN_KNOWN)
    change_after: str | None = field(default=None, metadata=WHEN_KNOWN)
    detected_at: str | None = field(default=None, metadata=WHEN_KNOWN)
    reason: str | None = field(default=None, metadata=WHEN_KNOWN)


@dataclass(frozen=True)
class Verdict(PayloadObject):
    """The evaluator's verdict and the numbers behind it (`gate.summarize` reads it from `evaluation.json`)."""

    promote: bool
    reason: str
    estimator: str
    margin: float | None
    rows: int | None
    candidate: Interval
    serving: ServingEstimate
    difference: Interval
    candidate_ess: float | None
    logged_mean_reward: float | None
    drift: Drift | None = None
    """None when the serving model could not be checked (no predicted band, or nothing it logged)."""


@dataclass(frozen=True)
class EvaluationResult(PayloadObject):
    """`$.evaluation`: the evaluation job of the candidate against what serves and, once Completed, its verdict
    (flat: `$.evaluation.promote`)."""

    job_name: str
    model_id: str
    serving_model_id: str | None
    status: JobStatus
    deadline: Deadline = field(metadata=FLAT)
    holdout_since: str | None = None
    """Where the pooled holdout starts (the serving model's data cutoff, or a later change); once Completed, where
    the evaluator's gate started (later again when it detected a change in this run)."""
    output_uri: str | None = field(default=None, metadata=WHEN_KNOWN)
    verdict: Verdict | None = field(default=None, metadata=FLAT)
    challenger: bool | None = field(default=None, metadata=WHEN_KNOWN)
    """Once Completed: the rejected candidate is to serve `challenger_share` of every decision, mixed into the
    serving model (`Promote?` routes it to the deployment; `gate.wants_challenger`)."""


@dataclass(frozen=True)
class DeploymentResult(PayloadObject):
    """`$.deployment`: the blue/green rollout of a model onto the endpoint, and where it stands."""

    model_id: str
    artifact_uri: str | None
    sagemaker_model: str
    endpoint_name: str
    endpoint_config: str
    previous_config: str | None
    previous_model_id: str | None
    mode: DeploymentMode
    seen_updating: bool
    status: DeploymentStatus
    deadline: Deadline = field(metadata=FLAT)
    endpoint_status: str | None = field(default=None, metadata=WHEN_KNOWN)
    reason: str | None = field(default=None, metadata=WHEN_KNOWN)
    challenger_share: float | None = field(default=None, metadata=WHEN_KNOWN)
    """Set when `model_id` is a rejected candidate deployed as a challenger: this share of every decision is its,
    the rest the serving model's (`previous_model_id`), which stays the serving model."""


@dataclass(frozen=True)
class StepError(PayloadObject):
    """What a Catch wrote to `$.error`: the error's name and its cause (the handler's error JSON, as text)."""

    error: str = field(default="unknown", metadata=key("Error"))
    cause: str = field(default="", metadata=key("Cause"))


@dataclass(frozen=True)
class RunState(PayloadObject):
    """The execution's whole state (`$`), as deploy and finalize get it: the input and each step's last result."""

    input: RunInput = field(metadata=FLAT)
    join: JoinResult | None = None
    training: TrainingResult | None = None
    evaluation: EvaluationResult | None = None
    deployment: DeploymentResult | None = None
    error: StepError | None = None

    @classmethod
    def salvage(cls, fields: Fields) -> tuple[RunState, list[str]]:
        """The state of a failed run, part by part: a part that does not parse is left out and its problem listed.

        RecordFailure must release the lock whatever the run carried (a malformed step input is often why it
        failed), so it never fails on the state it records.
        """
        problems: list[str] = []

        def part(parse: Callable[[Fields], T], name: str | None) -> T | None:
            try:
                if name is None:
                    return parse(fields)
                child = fields.optional_child(name)
                return parse(child) if child else None
            except InvalidEvent as problem:
                problems.append(str(problem))
                return None

        state = cls(
            input=part(RunInput.from_fields, None) or RunInput(),
            join=part(JoinResult.from_fields, "join"),
            training=part(TrainingResult.from_fields, "training"),
            evaluation=part(EvaluationResult.from_fields, "evaluation"),
            deployment=part(DeploymentResult.from_fields, "deployment"),
            error=part(StepError.from_fields, "error"),
        )
        return state, problems


@dataclass(frozen=True)
class Release(PayloadObject):
    """Whether this run's lock was released, and how many rewards were taken off the counter with it."""

    lock_released: bool
    counter_reset_by: int


@dataclass(frozen=True)
class RunOutcome(PayloadObject):
    """`$.result`: what a run that reached Finalize amounted to, and the registry pointers it left."""

    outcome: Outcome
    model_id: str | None
    serving_model_id: str | None
    learner_model_id: str | None
    watermark: str | None
    release: Release = field(metadata=FLAT)
    challenger_model_id: str | None = field(default=None, metadata=WHEN_KNOWN)
    """The rejected candidate the endpoint now mixes into the serving model (`challenger_share`)."""


@dataclass(frozen=True, kw_only=True)
class FailureOutcome(PayloadObject):
    """`$.failure`: where a failed run stopped and why."""

    outcome: Outcome = Outcome.FAILED
    failed_step: str
    error: str
    cause: str
    model_id: str | None
    release: Release = field(metadata=FLAT)
