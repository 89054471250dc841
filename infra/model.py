"""The policy image and the three roles SageMaker runs it under: training, evaluation and the endpoint."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra import access, nag
from infra.assets import IMAGE_DOCKERFILE, stage_image_context, staging_dir
from infra.data_lake import EVALUATIONS_PREFIX, JOINED_PREFIX, MODELS_PREFIX, DataLake
from infra.names import ResourceNames


@dataclass(frozen=True)
class ExecutionAccess:
    """What one SageMaker execution role may touch: data-lake prefixes, its log group, its metric namespace."""

    construct_id: str
    description: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    log_group: str
    metric_namespace: str


TRAINING_JOB_LOGS = "/aws/sagemaker/TrainingJobs"
"""Training jobs (the evaluation is one too) log here, one stream per job instance."""
TRAINING_JOB_METRICS = "/aws/sagemaker/TrainingJobs"
"""The CloudWatch namespace of training-job instance metrics."""


ENDPOINT_ROLE_ID = "ExecutionRole"
"""The construct id of the role all three jobs shared before each got its own: the endpoint role keeps it, so the
stack update that splits the roles changes that role's policy instead of replacing it, and an endpoint deployed
before the split (its model names that role's ARN) keeps its credentials and its decision log."""


def _training_job(construct_id: str, description: str, writes: str) -> ExecutionAccess:
    """Training and evaluation both run as SageMaker training jobs over the joined rows and the models."""
    return ExecutionAccess(
        construct_id,
        description,
        reads=(JOINED_PREFIX, MODELS_PREFIX),
        writes=(writes,),
        log_group=TRAINING_JOB_LOGS,
        metric_namespace=TRAINING_JOB_METRICS,
    )


def execution_accesses(names: ResourceNames) -> tuple[ExecutionAccess, ExecutionAccess, ExecutionAccess]:
    """Training, evaluation, endpoint: each reads and writes only what its job does (docs/infrastructure.md, IAM).

    Training reads the joined rows and the warm-start model and writes its artifact; the evaluation reads the holdout
    (joined rows) and both models and writes the report with the verdict; the endpoint reads the served artifact
    and writes nothing to the bucket, so the serving container, which parses untrusted input, can change neither a
    model nor the gate's verdict.
    """
    return (
        _training_job(
            "TrainingRole",
            "SageMaker training jobs: read joined rows and the warm-start model, write the candidate's artifact",
            writes=MODELS_PREFIX,
        ),
        _training_job(
            "EvaluationRole",
            "SageMaker evaluation jobs: read the holdout and the models, write the report and verdict",
            writes=EVALUATIONS_PREFIX,
        ),
        ExecutionAccess(
            ENDPOINT_ROLE_ID,
            "The policy endpoint: read the served model, log decisions to Firehose; no writes to the data lake",
            reads=(MODELS_PREFIX,),
            writes=(),
            log_group=f"/aws/sagemaker/Endpoints/{names.endpoint_name}",
            metric_namespace="/aws/sagemaker/Endpoints",
        ),
    )


class PolicyModel(Construct):
    """`container/` and `contract/` as a Docker image asset and one SageMaker execution role per job kind.

    The asset is only staged at synth (infra/assets.py: both packages copied into `cdk.out`); the CDK CLI builds and
    pushes it at `cdk deploy`.
    Every role can pull the image and write its own logs and metrics; beyond that the training role writes
    `models/`, the evaluation role writes `evaluations/`, and the endpoint role only reads `models/`, puts decision
    records on the `decisions` stream (the container logs every decision with `PutRecordBatch`) and reads the
    auto-rollback alarms (`grant_rollback_alarms`: SageMaker watches them with the endpoint model's role).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        names: ResourceNames,
        data_lake: DataLake,
        container_dir: Path,
        contract_dir: Path,
    ):
        super().__init__(scope, construct_id)
        context = stage_image_context(container_dir, contract_dir, staging_dir(self, "image"))
        self.image = ecr_assets.DockerImageAsset(
            self,
            "Image",
            directory=str(context),
            file=IMAGE_DOCKERFILE,
            platform=ecr_assets.Platform.LINUX_AMD64,
        )

        training, evaluation, endpoint = (
            self._execution_role(spec, data_lake=data_lake) for spec in execution_accesses(names)
        )
        self.training_role: iam.Role = training
        self.evaluation_role: iam.Role = evaluation
        self.endpoint_role: iam.Role = endpoint
        self.endpoint_role.add_to_policy(
            iam.PolicyStatement(actions=["firehose:PutRecordBatch"], resources=[data_lake.decisions_stream.attr_arn])
        )

    def _execution_role(self, spec: ExecutionAccess, *, data_lake: DataLake) -> iam.Role:
        """A role SageMaker (of this account only) assumes: its prefixes, the image, its log group and metrics."""
        stack = Stack.of(self)
        role = iam.Role(
            self,
            spec.construct_id,
            assumed_by=iam.ServicePrincipal(
                "sagemaker.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
            description=spec.description,
        )
        bucket = data_lake.bucket
        access.read_prefixes(role, bucket, spec.reads)
        if spec.writes:
            access.write_prefixes(role, bucket, spec.writes)
        nag.acknowledge_prefixes(
            role,
            bucket,
            sorted(set(spec.reads + spec.writes)),
            "SageMaker reads and writes objects under job-named keys that are not known at deploy time; access is "
            "limited to these prefixes.",
        )
        self.image.repository.grant_pull(role)
        log_group = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"{spec.log_group}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[log_group],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": spec.metric_namespace}},
            )
        )
        nag.acknowledge_star(
            role,
            "ecr:GetAuthorizationToken and cloudwatch:PutMetricData have no resource-level permissions; "
            "PutMetricData is limited to the job's SageMaker namespace by condition.",
        )
        nag.acknowledge_resources(
            role,
            [f"arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:{spec.log_group}:*"],
            "SageMaker names one log stream per job or instance inside this log group.",
        )
        return role

    def grant_rollback_alarms(self, alarms: Iterable[cloudwatch.IAlarm]) -> None:
        """`cloudwatch:DescribeAlarms` on exactly the auto-rollback alarms, for the endpoint role.

        SageMaker watches the `AutoRollbackConfiguration` alarms of a blue/green update with the execution role:
        "Ensure that your IAM execution role has permission to perform the cloudwatch:DescribeAlarms action on the
        auto-rollback alarms you specify" (Auto-Rollback Configuration and Monitoring,
        https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-configuration.html).
        """
        self.endpoint_role.add_to_policy(
            iam.PolicyStatement(actions=["cloudwatch:DescribeAlarms"], resources=[a.alarm_arn for a in alarms])
        )

    @property
    def image_uri(self) -> str:
        return self.image.image_uri
