"""The policy image and the role SageMaker jobs and the endpoint run under."""

from __future__ import annotations

from collections.abc import Iterable
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


class PolicyModel(Construct):
    """`container/` and `contract/` as a Docker image asset and the SageMaker execution role.

    The asset is only staged at synth (infra/assets.py: both packages copied into `cdk.out`); the CDK CLI builds and
    pushes it at `cdk deploy`.
    The role can read joined rows and models, write models and evaluations, pull the image, write its logs and
    metrics, put decision records on the `decisions` stream (the endpoint's container logs every decision), and
    read the auto-rollback alarms (`grant_rollback_alarms`: SageMaker watches them with this role).
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

        self.role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal(
                "sagemaker.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            ),
            description="SageMaker training/evaluation jobs and the policy endpoint of the bandit pipeline",
        )
        bucket = data_lake.bucket
        access.read_prefixes(self.role, bucket, [JOINED_PREFIX, MODELS_PREFIX])
        access.write_prefixes(self.role, bucket, [MODELS_PREFIX, EVALUATIONS_PREFIX])
        nag.acknowledge_prefixes(
            self.role,
            bucket,
            [JOINED_PREFIX, MODELS_PREFIX, EVALUATIONS_PREFIX],
            "Jobs read the run's joined rows and model artifacts and write artifacts under job-named keys "
            "that are not known at deploy time; access is limited to these prefixes.",
        )
        self.image.repository.grant_pull(self.role)
        data_lake.grant_put_records(self.role, data_lake.decisions_stream)

        stack = Stack.of(self)
        log_groups = [
            stack.format_arn(
                service="logs",
                resource="log-group",
                resource_name="/aws/sagemaker/TrainingJobs:*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            ),
            stack.format_arn(
                service="logs",
                resource="log-group",
                resource_name=f"/aws/sagemaker/Endpoints/{names.endpoint_name}:*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            ),
        ]
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=log_groups,
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
            )
        )
        nag.acknowledge_star(
            self.role,
            "ecr:GetAuthorizationToken and cloudwatch:PutMetricData have no resource-level permissions; "
            "PutMetricData is limited to SageMaker's namespaces by condition.",
        )
        nag.acknowledge_resources(
            self.role,
            [
                "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker/TrainingJobs:*",
                f"arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:"
                f"/aws/sagemaker/Endpoints/{names.endpoint_name}:*",
            ],
            "SageMaker names one log stream per job or instance inside these log groups.",
        )

    def grant_rollback_alarms(self, alarms: Iterable[cloudwatch.IAlarm]) -> None:
        """`cloudwatch:DescribeAlarms` on exactly the auto-rollback alarms.

        SageMaker watches the `AutoRollbackConfiguration` alarms of a blue/green update with the execution role:
        "Ensure that your IAM execution role has permission to perform the cloudwatch:DescribeAlarms action on the
        auto-rollback alarms you specify" (Auto-Rollback Configuration and Monitoring,
        https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-configuration.html).
        """
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["cloudwatch:DescribeAlarms"], resources=[a.alarm_arn for a in alarms])
        )

    @property
    def image_uri(self) -> str:
        return self.image.image_uri
