"""The roles SageMaker acts as (`local.iam`): a training job's `RoleArn`, a model's `ExecutionRoleArn`.

Every check names the role it runs as, taken from the request that owns the container, so a job, an evaluation
and an endpoint with roles of their own are each checked (and given credentials) as their own role.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from local.engines.sagemaker.common import ACCOUNT, REGION, JobFailed, Params, Rollback, split_s3


class RoleChecks:
    """What a role may do, asked of the gateway's `local.iam.authorizer.Authorizer` (`iam`; None: no checks)."""

    def __init__(self) -> None:
        self.iam: Any = None

    def denial(self, role_arn: str, checks: list[Any]) -> str | None:
        """The AccessDenied message of the first check `role_arn` fails, or None (also when IAM is not loaded)."""
        if self.iam is None or not role_arn:
            return None
        from local.iam.authorizer import AccessDenied, Identity

        try:
            self.iam.authorize(Identity(role_arn, "SageMaker"), checks)
        except AccessDenied as denied:
            return str(denied.message)
        return None

    def credentials(self, role_arn: str) -> dict[str, str]:
        """A container's AWS credentials: the role SageMaker runs it as (a training job's RoleArn, a model's
        ExecutionRoleArn), so whatever it calls through the gateway is checked against that role."""
        if self.iam is None or not role_arn:
            return {}
        return dict(self.iam.credentials_for(role_arn, "SageMaker"))

    @staticmethod
    def image_checks(image: str) -> list[Any]:
        """What pulling an ECR image takes: the execution role must "download a Docker image" (CreateTrainingJob
        `RoleArn`, https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTrainingJob.html), which is
        these four ECR actions (the ones CDK's `grant_pull` gives)."""
        from local.iam.requests import Check

        match = re.fullmatch(r"(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com[^/]*/([^:@]+).*", image or "")
        if not match:
            return []
        account, region, repository = match.groups()
        repo_arn = f"arn:aws:ecr:{region}:{account}:repository/{repository}"
        return [
            Check("ecr:GetAuthorizationToken", "*"),
            Check("ecr:BatchCheckLayerAvailability", repo_arn),
            Check("ecr:GetDownloadUrlForLayer", repo_arn),
            Check("ecr:BatchGetImage", repo_arn),
        ]

    @staticmethod
    def read_checks(uri: str) -> list[Any]:
        """Reading an S3 prefix or object as SageMaker does: list the prefix, get the objects."""
        from local.iam.requests import Check

        bucket, key = split_s3(uri)
        return [
            Check("s3:ListBucket", f"arn:aws:s3:::{bucket}", {"s3:prefix": key}),
            Check("s3:GetObject", f"arn:aws:s3:::{bucket}/{key}"),
        ]

    def authorize_job(self, request: Params) -> None:
        """The job's RoleArn must pull the training image, read every input channel and write the model artifact;
        SageMaker fails the job with the AccessDenied otherwise."""
        from local.iam.requests import Check

        checks = self.image_checks(str((request.get("AlgorithmSpecification") or {}).get("TrainingImage", "")))
        for channel in request.get("InputDataConfig") or []:
            uri = ((channel.get("DataSource") or {}).get("S3DataSource") or {}).get("S3Uri")
            if uri:
                checks.extend(self.read_checks(uri))
        output = str((request.get("OutputDataConfig") or {}).get("S3OutputPath", "")).rstrip("/")
        if output:
            bucket, prefix = split_s3(output)
            key = f"{prefix}/{request.get('TrainingJobName', '')}/output/model.tar.gz".lstrip("/")
            checks.append(Check("s3:PutObject", f"arn:aws:s3:::{bucket}/{key}"))
        denial = self.denial(str(request.get("RoleArn", "")), checks)
        if denial:
            raise JobFailed(f"ClientError: {denial}")

    def authorize_model(self, model: Params) -> None:
        """A variant's model: its ExecutionRoleArn must pull the image and read ModelDataUrl, else the fleet fails
        to start (CreateEndpoint fails, UpdateEndpoint rolls back) with the AccessDenied."""
        container = model.get("PrimaryContainer") or {}
        checks = self.image_checks(str(container.get("Image", "")))
        if container.get("ModelDataUrl"):
            checks.extend(self.read_checks(str(container["ModelDataUrl"])))
        denial = self.denial(str(model.get("ExecutionRoleArn", "")), checks)
        if denial:
            raise RuntimeError(f"Failed to start model {model.get('ModelName')}: {denial}")

    def authorize_alarms(self, execution_roles: Iterable[str], alarms: list[str]) -> None:
        """Auto-rollback reads the alarms with the execution role ("Ensure that your IAM execution role has
        permission to perform the cloudwatch:DescribeAlarms action on the auto-rollback alarms you specify":
        "Auto-Rollback Configuration and Monitoring", https://docs.aws.amazon.com/sagemaker/latest/dg/
        deployment-guardrails-configuration.html); without it SageMaker cannot watch them and the update rolls back."""
        from local.iam.requests import Check

        alarm_arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:"
        checks = [Check("cloudwatch:DescribeAlarms", alarm_arn + name) for name in alarms]
        for role in execution_roles:
            denial = self.denial(role, checks)
            if denial:
                raise Rollback(f"the execution role cannot read the auto-rollback alarms: {denial}")
