"""The one stack of the bandit retraining pipeline, assembled from one construct per concern."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.data_lake import DataLake
from infra.endpoint_alarms import EndpointAlarms
from infra.metadata import Metadata
from infra.model import PolicyModel
from infra.monitoring import Monitoring
from infra.names import ResourceNames
from infra.pipeline import Pipeline
from infra.reconcile import RunReconciler
from infra.settings import REPO_ROOT, Settings, SettingsError
from infra.trigger import RewardsTrigger

DEFAULT_LAMBDAS_DIR = REPO_ROOT / "lambdas"
DEFAULT_STATEMACHINE_PATH = REPO_ROOT / "statemachine" / "retrain.asl.json"
DEFAULT_CONTAINER_DIR = REPO_ROOT / "container"
DEFAULT_CONTRACT_DIR = REPO_ROOT / "contract"


_RETENTION: dict[int, logs.RetentionDays] = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def log_retention(settings: Settings) -> logs.RetentionDays:
    """`log_retention_days` as CloudWatch Logs accepts it (only a fixed set of day counts is valid)."""
    try:
        return _RETENTION[settings.log_retention_days]
    except KeyError:
        raise SettingsError(
            "log_retention_days",
            f"is {settings.log_retention_days}; CloudWatch Logs accepts one of {', '.join(map(str, _RETENTION))}",
        ) from None


class BanditPipelineStack(Stack):
    """Data lake, metadata, model image and role, retraining pipeline, trigger, rollback alarms and dashboard.

    The stack is environment-agnostic (no lookups), so `cdk synth` needs no AWS credentials; the endpoint itself is
    created by the pipeline's first run, so `cdk deploy` never reverts a rollout.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        lambdas_dir: Path = DEFAULT_LAMBDAS_DIR,
        statemachine_path: Path = DEFAULT_STATEMACHINE_PATH,
        container_dir: Path = DEFAULT_CONTAINER_DIR,
        contract_dir: Path = DEFAULT_CONTRACT_DIR,
        **kwargs: Any,
    ):
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings
        names = ResourceNames.of(settings)
        retention = log_retention(settings)

        self.data_lake = DataLake(self, "DataLake", names=names, log_retention=retention)
        self.metadata = Metadata(self, "Metadata", names=names)
        self.model = PolicyModel(
            self, "Model", names=names, data_lake=self.data_lake, container_dir=container_dir, contract_dir=contract_dir
        )
        self.alarms = EndpointAlarms(self, "EndpointAlarms", names=names)
        self.model.grant_rollback_alarms(self.alarms.alarms)
        self.pipeline = Pipeline(
            self,
            "Pipeline",
            settings=settings,
            names=names,
            data_lake=self.data_lake,
            metadata=self.metadata,
            model=self.model,
            alarms=self.alarms,
            lambdas_dir=lambdas_dir,
            contract_dir=contract_dir,
            statemachine_path=statemachine_path,
            log_retention=retention,
        )
        self.trigger = RewardsTrigger(
            self, "Trigger", bucket=self.data_lake.bucket, function=self.pipeline.functions["trigger"]
        )
        self.reconciler = RunReconciler(
            self,
            "Reconciler",
            state_machine=self.pipeline.state_machine,
            function=self.pipeline.functions["reconcile"],
        )
        self.monitoring = Monitoring(
            self, "Monitoring", names=names, state_machine=self.pipeline.state_machine, alarms=self.alarms
        )

        outputs: dict[str, tuple[str, str]] = {
            "BucketName": (self.data_lake.bucket.bucket_name, "Data lake bucket (BUCKET_NAME)"),
            "DecisionsStreamName": (names.decisions_stream, "Firehose stream of decision records"),
            "RewardsStreamName": (names.rewards_stream, "Firehose stream clients send rewards to"),
            "StateMachineArn": (self.pipeline.state_machine.state_machine_arn, "The retrain state machine"),
            "EndpointName": (names.endpoint_name, "SageMaker endpoint the pipeline creates and updates"),
            "GlueDatabase": (names.glue_database, "Glue database of the decisions and rewards tables"),
            "AthenaWorkGroup": (names.athena_workgroup, "Athena workgroup of the join"),
            "TrainingImageUri": (self.model.image_uri, "Policy image (train, evaluate, serve)"),
            "TrainingRoleArn": (self.model.training_role.role_arn, "Execution role of the training jobs"),
            "EvaluationRoleArn": (self.model.evaluation_role.role_arn, "Execution role of the evaluation jobs"),
            "EndpointRoleArn": (self.model.endpoint_role.role_arn, "Execution role of the policy endpoint"),
            "RollbackAlarms": (",".join(self.alarms.alarm_names), "Alarms of the blue/green auto-rollback"),
            "DeadLetterQueueUrl": (self.trigger.dead_letters.queue_url, "Reward events that could not be counted"),
            "ReconcileDeadLetterQueueUrl": (
                self.reconciler.dead_letters.queue_url,
                "Execution status events that could not be reconciled",
            ),
            "DashboardUrl": (self.monitoring.dashboard_url, "CloudWatch dashboard"),
        }
        for key, table in self.metadata.tables.items():
            outputs[f"{key.capitalize()}TableName"] = (table.table_name, f"DynamoDB table {key}")
        for output_id, (value, description) in outputs.items():
            CfnOutput(self, output_id, value=value, description=description)
