"""Physical names derived from the experiment id, in one place.

Resources that other parts address by name (the endpoint, the state machine, the streams, the tables, the Glue
catalog, the Athena workgroup, the functions, the alarms) get deterministic names so the Lambdas, the local runtime,
the simulator and the README can find them; the bucket keeps a generated name because bucket names are global.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.settings import Settings

METRICS_NAMESPACE = "BanditPipeline"
"""CloudWatch namespace of the Powertools EMF metrics (`POWERTOOLS_METRICS_NAMESPACE`)."""

FUNCTION_KEYS = ("trigger", "join", "train", "evaluate", "deploy", "finalize", "reconcile")
"""The Lambda handler modules under `lambdas/`; each is deployed as `<experiment_id>-<key>` with `<key>.handler`."""

ENDPOINT_VARIANT = "AllTraffic"
"""The endpoint's single production variant (blue/green swaps fleets behind it)."""

# Metric names the Lambdas emit through Powertools `Metrics` (namespace above); the dashboard graphs these.
METRIC_REWARDS_COUNTED = "RewardsCounted"
METRIC_ROWS_JOINED = "RowsJoined"
METRIC_CANDIDATE_VALUE = "CandidateValue"
METRIC_SERVING_VALUE = "ServingValue"
METRIC_PROMOTIONS = "Promotions"
METRIC_ROLLBACKS = "Rollbacks"
METRIC_RUNS_FAILED = "RunsFailed"
METRIC_DRIFT_DETECTED = "DriftDetected"


@dataclass(frozen=True)
class ResourceNames:
    """Names of the stack's addressable resources for one experiment."""

    experiment_id: str

    @classmethod
    def of(cls, settings: Settings) -> ResourceNames:
        return cls(experiment_id=settings.experiment_id)

    @property
    def sagemaker_prefix(self) -> str:
        """Prefix of every SageMaker resource the pipeline creates; IAM scopes the Lambdas to it.

        SageMaker lower-cases names in its ARNs, so the prefix used in policies is lower case too.
        """
        return self.experiment_id.lower()

    @property
    def endpoint_name(self) -> str:
        return f"{self.experiment_id}-policy"

    @property
    def state_machine_name(self) -> str:
        return f"{self.experiment_id}-retrain"

    @property
    def decisions_stream(self) -> str:
        return f"{self.experiment_id}-decisions"

    @property
    def rewards_stream(self) -> str:
        return f"{self.experiment_id}-rewards"

    @property
    def glue_database(self) -> str:
        """Athena wants lower-case identifiers with underscores (a '-' would need quoting in every query)."""
        return f"{self.experiment_id.lower().replace('-', '_')}_lake"

    @property
    def glue_decisions_table(self) -> str:
        return "decisions"

    @property
    def glue_rewards_table(self) -> str:
        return "rewards"

    @property
    def athena_workgroup(self) -> str:
        return f"{self.experiment_id}-pipeline"

    def table(self, key: str) -> str:
        """DynamoDB table name for `experiments`, `models`, `joins`, `state` or `idempotency`."""
        return f"{self.experiment_id}-{key}"

    def function(self, key: str) -> str:
        return f"{self.experiment_id}-{key}"

    @property
    def alarm_5xx(self) -> str:
        return f"{self.endpoint_name}-5xx"

    @property
    def alarm_latency(self) -> str:
        return f"{self.endpoint_name}-latency"

    @property
    def alarm_drift(self) -> str:
        return f"{self.experiment_id}-drift"

    @property
    def dashboard(self) -> str:
        return f"{self.experiment_id}-pipeline"
