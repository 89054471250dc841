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

ASL_FUNCTION_SUBSTITUTIONS = {
    "TriggerFunctionArn": "trigger",
    "JoinFunctionArn": "join",
    "TrainFunctionArn": "train",
    "EvaluateFunctionArn": "evaluate",
    "DeployFunctionArn": "deploy",
    "FinalizeFunctionArn": "finalize",
}
"""Substitution name in statemachine/retrain.asl.json -> the function key whose ARN it becomes (docs/contracts.md)."""
ASL_VALUE_SUBSTITUTIONS = ("PollSeconds", "RunTimeoutSeconds")
"""The ASL's other substitutions, from the settings: the poll interval and the run's time limit."""

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
    """Names of the stack's addressable resources for one experiment, each derived from its id by `of`."""

    experiment_id: str
    sagemaker_prefix: str
    """Prefix of every SageMaker resource the pipeline creates; IAM scopes the Lambdas to it. SageMaker lower-cases
    names in its ARNs, so the prefix used in policies is lower case too."""
    endpoint_name: str
    state_machine_name: str
    decisions_stream: str
    rewards_stream: str
    glue_database: str
    """Athena wants lower-case identifiers with underscores (a '-' would need quoting in every query)."""
    glue_decisions_table: str
    glue_rewards_table: str
    athena_workgroup: str
    alarm_5xx: str
    alarm_latency: str
    alarm_drift: str
    dashboard: str

    @classmethod
    def of(cls, settings: Settings) -> ResourceNames:
        experiment = settings.experiment_id
        endpoint = f"{experiment}-policy"
        return cls(
            experiment_id=experiment,
            sagemaker_prefix=experiment.lower(),
            endpoint_name=endpoint,
            state_machine_name=f"{experiment}-retrain",
            decisions_stream=f"{experiment}-decisions",
            rewards_stream=f"{experiment}-rewards",
            glue_database=f"{experiment.lower().replace('-', '_')}_lake",
            glue_decisions_table="decisions",
            glue_rewards_table="rewards",
            athena_workgroup=f"{experiment}-pipeline",
            alarm_5xx=f"{endpoint}-5xx",
            alarm_latency=f"{endpoint}-latency",
            alarm_drift=f"{experiment}-drift",
            dashboard=f"{experiment}-pipeline",
        )

    def table(self, key: str) -> str:
        """DynamoDB table name for `experiments`, `models`, `joins`, `state` or `idempotency`."""
        return f"{self.experiment_id}-{key}"

    def function(self, key: str) -> str:
        return f"{self.experiment_id}-{key}"
