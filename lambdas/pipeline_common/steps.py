"""The step payloads of the retrain state machine, one dataclass per step result (docs/pipeline.md, "Payloads").

Each handler parses its input once, at its edge, with `from_fields` (a malformed field raises `InvalidEvent` naming
it, `payload.join.query_execution_id`), works on the dataclass, and returns `to_payload()`: the JSON the state
machine stores under the step's `ResultPath` and its Choice states read (`$.join.state`, `$.join.enough_rows`,
`$.training.status`, `$.evaluation.status`, `$.evaluation.promote`, `$.deployment.status`; the ASL tests pin them).
A field a step learns only later (a job's artifact, a rollout's endpoint status) is left out while it is unknown.

The states are StrEnums, so a state is one of its values and still serializes as the string the contract names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from pipeline_common.deadline import Deadline
from pipeline_common.errors import InvalidEvent
from pipeline_common.payloads import Fields, Payload
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


def _shown(payload: Payload) -> Payload:
    """The payload without the fields that are not known yet (None)."""
    return {key: value for key, value in payload.items() if value is not None}


def read_window(fields: Fields) -> Window:
    return Window.from_dict({"start": fields.required("start", str), "end": fields.required("end", str)})


# --- the execution input ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunInput:
    """The execution input (docs/contracts.md): a triggered run's window, reward count and join time; a run started
    by hand has `{"bootstrap": true}` or `{"rollback_to": MODEL_ID}`."""

    window: Window | None = None
    reward_count: int = 0
    join_after: str | None = None
    bootstrap: bool = False
    rollback_to: str | None = None

    @classmethod
    def from_fields(cls, fields: Fields) -> RunInput:
        window = fields.optional_child("window")
        return cls(
            window=read_window(window) if window else None,
            reward_count=fields.optional("reward_count", int) or 0,
            join_after=fields.optional("join_after", str),
            bootstrap=fields.flag("bootstrap"),
            rollback_to=fields.optional("rollback_to", str),
        )


# --- join -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JoinCounts:
    """What the count query found (the join's result once SUCCEEDED)."""

    rows: int
    defaulted_rows: int
    unmatched_rewards: int
    malformed_rewards: int
    late_rewards: int
    malformed_decisions: int
    data_scanned_bytes: int
    enough_rows: bool

    @classmethod
    def from_fields(cls, fields: Fields) -> JoinCounts:
        return cls(
            rows=fields.required("rows", int),
            defaulted_rows=fields.required("defaulted_rows", int),
            unmatched_rewards=fields.required("unmatched_rewards", int),
            malformed_rewards=fields.required("malformed_rewards", int),
            late_rewards=fields.required("late_rewards", int),
            malformed_decisions=fields.required("malformed_decisions", int),
            data_scanned_bytes=fields.required("data_scanned_bytes", int),
            enough_rows=fields.required("enough_rows", bool),
        )

    def to_payload(self) -> Payload:
        return {
            "rows": self.rows,
            "defaulted_rows": self.defaulted_rows,
            "unmatched_rewards": self.unmatched_rewards,
            "malformed_rewards": self.malformed_rewards,
            "late_rewards": self.late_rewards,
            "malformed_decisions": self.malformed_decisions,
            "data_scanned_bytes": self.data_scanned_bytes,
            "enough_rows": self.enough_rows,
        }


@dataclass(frozen=True)
class JoinResult:
    """`$.join`: the two Athena queries of the run's window, and their counts once both SUCCEEDED."""

    run_id: str
    window: Window
    query_execution_id: str
    count_query_execution_id: str
    output_prefix: str
    bootstrap: bool
    state: JoinState
    deadline: Deadline
    counts: JoinCounts | None = None

    @classmethod
    def from_fields(cls, fields: Fields) -> JoinResult:
        state = fields.choice("state", JoinState)
        return cls(
            run_id=fields.required("run_id", str),
            window=read_window(fields.child("window")),
            query_execution_id=fields.required("query_execution_id", str),
            count_query_execution_id=fields.required("count_query_execution_id", str),
            output_prefix=fields.required("output_prefix", str),
            bootstrap=fields.required("bootstrap", bool),
            state=state,
            deadline=Deadline.from_fields(fields),
            counts=JoinCounts.from_fields(fields) if state is JoinState.SUCCEEDED else None,
        )

    @property
    def enough_rows(self) -> bool:
        return self.counts is not None and self.counts.enough_rows

    def to_payload(self) -> Payload:
        return {
            "run_id": self.run_id,
            "window": self.window.to_dict(),
            "query_execution_id": self.query_execution_id,
            "count_query_execution_id": self.count_query_execution_id,
            "output_prefix": self.output_prefix,
            "bootstrap": self.bootstrap,
            "state": self.state,
            **self.deadline.to_payload(),
            **(self.counts.to_payload() if self.counts else {}),
        }


# --- training -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingResult:
    """`$.training`: the candidate's training job (job name = model_id) and, once Completed, its artifact."""

    model_id: str
    job_name: str
    parent_model_id: str | None
    warm_start: bool
    status: JobStatus
    deadline: Deadline
    secondary_status: str | None = None
    artifact_uri: str | None = None

    @classmethod
    def from_fields(cls, fields: Fields) -> TrainingResult:
        return cls(
            model_id=fields.required("model_id", str),
            job_name=fields.required("job_name", str),
            parent_model_id=fields.optional("parent_model_id", str),
            warm_start=fields.required("warm_start", bool),
            status=fields.choice("status", JobStatus),
            deadline=Deadline.from_fields(fields),
            secondary_status=fields.optional("secondary_status", str),
            artifact_uri=fields.optional("artifact_uri", str),
        )

    def to_payload(self) -> Payload:
        known = _shown({"secondary_status": self.secondary_status, "artifact_uri": self.artifact_uri})
        return {
            "model_id": self.model_id,
            "job_name": self.job_name,
            "parent_model_id": self.parent_model_id,
            "warm_start": self.warm_start,
            "status": self.status,
            **self.deadline.to_payload(),
            **known,
        }


# --- evaluation -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """An estimate with its confidence interval; None where the evaluator had no finite number."""

    value: float | None
    ci_low: float | None
    ci_high: float | None

    @classmethod
    def from_fields(cls, fields: Fields) -> Interval:
        return cls(fields.optional("value", float), fields.optional("ci_low", float), fields.optional("ci_high", float))

    def to_payload(self) -> Payload:
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high}


@dataclass(frozen=True)
class ServingEstimate:
    """The serving policy's estimate, and what served: a registered model or the logging policy."""

    interval: Interval
    kind: str | None
    model_id: str | None

    @classmethod
    def from_fields(cls, fields: Fields) -> ServingEstimate:
        return cls(Interval.from_fields(fields), fields.optional("kind", str), fields.optional("model_id", str))

    def to_payload(self) -> Payload:
        return {**self.interval.to_payload(), "kind": self.kind, "model_id": self.model_id}


@dataclass(frozen=True)
class Verdict:
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

    @classmethod
    def from_fields(cls, fields: Fields) -> Verdict:
        return cls(
            promote=fields.required("promote", bool),
            reason=fields.optional("reason", str) or "",
            estimator=fields.required("estimator", str),
            margin=fields.optional("margin", float),
            rows=fields.optional("rows", int),
            candidate=Interval.from_fields(fields.child("candidate")),
            serving=ServingEstimate.from_fields(fields.child("serving")),
            difference=Interval.from_fields(fields.child("difference")),
            candidate_ess=fields.optional("candidate_ess", float),
            logged_mean_reward=fields.optional("logged_mean_reward", float),
        )

    def to_payload(self) -> Payload:
        return {
            "promote": self.promote,
            "reason": self.reason,
            "estimator": self.estimator,
            "margin": self.margin,
            "rows": self.rows,
            "candidate": self.candidate.to_payload(),
            "serving": self.serving.to_payload(),
            "difference": self.difference.to_payload(),
            "candidate_ess": self.candidate_ess,
            "logged_mean_reward": self.logged_mean_reward,
        }


@dataclass(frozen=True)
class EvaluationResult:
    """`$.evaluation`: the evaluation job of the candidate against what serves and, once Completed, its verdict
    (flat in the payload: `$.evaluation.promote`)."""

    job_name: str
    model_id: str
    serving_model_id: str | None
    status: JobStatus
    deadline: Deadline
    output_uri: str | None = None
    verdict: Verdict | None = None

    @classmethod
    def from_fields(cls, fields: Fields) -> EvaluationResult:
        status = fields.choice("status", JobStatus)
        return cls(
            job_name=fields.required("job_name", str),
            model_id=fields.required("model_id", str),
            serving_model_id=fields.optional("serving_model_id", str),
            status=status,
            deadline=Deadline.from_fields(fields),
            output_uri=fields.optional("output_uri", str),
            verdict=Verdict.from_fields(fields) if status is JobStatus.COMPLETED else None,
        )

    def to_payload(self) -> Payload:
        return {
            "job_name": self.job_name,
            "model_id": self.model_id,
            "serving_model_id": self.serving_model_id,
            "status": self.status,
            **self.deadline.to_payload(),
            **_shown({"output_uri": self.output_uri}),
            **(self.verdict.to_payload() if self.verdict else {}),
        }


# --- deployment -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeploymentResult:
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
    deadline: Deadline
    endpoint_status: str | None = None
    reason: str | None = None

    @classmethod
    def from_fields(cls, fields: Fields) -> DeploymentResult:
        return cls(
            model_id=fields.required("model_id", str),
            artifact_uri=fields.optional("artifact_uri", str),
            sagemaker_model=fields.required("sagemaker_model", str),
            endpoint_name=fields.required("endpoint_name", str),
            endpoint_config=fields.required("endpoint_config", str),
            previous_config=fields.optional("previous_config", str),
            previous_model_id=fields.optional("previous_model_id", str),
            mode=fields.choice("mode", DeploymentMode),
            seen_updating=fields.required("seen_updating", bool),
            status=fields.choice("status", DeploymentStatus),
            deadline=Deadline.from_fields(fields),
            endpoint_status=fields.optional("endpoint_status", str),
            reason=fields.optional("reason", str),
        )

    def to_payload(self) -> Payload:
        return {
            "model_id": self.model_id,
            "artifact_uri": self.artifact_uri,
            "sagemaker_model": self.sagemaker_model,
            "endpoint_name": self.endpoint_name,
            "endpoint_config": self.endpoint_config,
            "previous_config": self.previous_config,
            "previous_model_id": self.previous_model_id,
            "mode": self.mode,
            "seen_updating": self.seen_updating,
            "status": self.status,
            **self.deadline.to_payload(),
            **_shown({"endpoint_status": self.endpoint_status, "reason": self.reason or None}),
        }


# --- the whole run ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepError:
    """What a Catch wrote to `$.error`: the error's name and its cause (the handler's error JSON, as text)."""

    error: str
    cause: str

    @classmethod
    def from_fields(cls, fields: Fields) -> StepError:
        return cls(fields.optional("Error", str) or "unknown", fields.optional("Cause", str) or "")


@dataclass(frozen=True)
class RunState:
    """The execution's whole state (`$`), as deploy and finalize get it: the input and each step's last result."""

    input: RunInput
    join: JoinResult | None = None
    training: TrainingResult | None = None
    evaluation: EvaluationResult | None = None
    deployment: DeploymentResult | None = None
    error: StepError | None = None

    @classmethod
    def from_fields(cls, fields: Fields) -> RunState:
        join, training = fields.optional_child("join"), fields.optional_child("training")
        evaluation, deployment = fields.optional_child("evaluation"), fields.optional_child("deployment")
        error = fields.optional_child("error")
        return cls(
            input=RunInput.from_fields(fields),
            join=JoinResult.from_fields(join) if join else None,
            training=TrainingResult.from_fields(training) if training else None,
            evaluation=EvaluationResult.from_fields(evaluation) if evaluation else None,
            deployment=DeploymentResult.from_fields(deployment) if deployment else None,
            error=StepError.from_fields(error) if error else None,
        )

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


# --- what finalize answers ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Release:
    """Whether this run's lock was released, and how many rewards were taken off the counter with it."""

    lock_released: bool
    counter_reset_by: int

    def to_payload(self) -> Payload:
        return {"lock_released": self.lock_released, "counter_reset_by": self.counter_reset_by}


@dataclass(frozen=True)
class RunOutcome:
    """`$.result`: what a run that reached Finalize amounted to, and the registry pointers it left."""

    outcome: Outcome
    model_id: str | None
    serving_model_id: str | None
    learner_model_id: str | None
    watermark: str | None
    release: Release

    def to_payload(self) -> Payload:
        return {
            "outcome": self.outcome,
            "model_id": self.model_id,
            "serving_model_id": self.serving_model_id,
            "learner_model_id": self.learner_model_id,
            "watermark": self.watermark,
            **self.release.to_payload(),
        }


@dataclass(frozen=True)
class FailureOutcome:
    """`$.failure`: where a failed run stopped and why (its outcome is always `failed`)."""

    failed_step: str
    error: str
    cause: str
    model_id: str | None
    release: Release

    def to_payload(self) -> Payload:
        return {
            "outcome": Outcome.FAILED,
            "failed_step": self.failed_step,
            "error": self.error,
            "cause": self.cause,
            "model_id": self.model_id,
            **self.release.to_payload(),
        }
