"""Pure builders of the SageMaker requests the pipeline makes (tested field by field)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contract.bounds import ESTIMATORS, MAX_CANARY_PERCENT
from contract.settings import TRAINING_JOB_MAX_RUNTIME_SECONDS, rollout_timeout_seconds
from pipeline_common.errors import ConfigError

TRAINING_CHANNEL = "training"
PRETRAINED_CHANNEL = "pretrained_model"
SERVING_MODEL_CHANNEL = "serving_model"
MAX_TRAINING_SECONDS = TRAINING_JOB_MAX_RUNTIME_SECONDS
_NUMBER = r"([-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|nan|inf))"


def _s3_channel(name: str, uri: str, content_type: str | None = None) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}
        },
        "InputMode": "File",
    }
    if content_type:
        channel["ContentType"] = content_type
    return channel


@dataclass(frozen=True)
class JobSite:
    """Where and as whom the experiment's jobs run: the image, the SageMaker role, the bucket, the instance type."""

    image_uri: str
    role_arn: str
    bucket: str
    instance_type: str
    experiment_id: str


def _job_request(
    site: JobSite,
    *,
    job_name: str,
    algorithm: dict[str, Any],
    channels: list[dict[str, Any]],
    output_prefix: str,
    hyperparameters: dict[str, str],
) -> dict[str, Any]:
    """CreateTrainingJob on one instance with the pipeline's volume, runtime limit and experiment tag."""
    return {
        "TrainingJobName": job_name,
        "AlgorithmSpecification": {"TrainingImage": site.image_uri, "TrainingInputMode": "File", **algorithm},
        "RoleArn": site.role_arn,
        "InputDataConfig": channels,
        "OutputDataConfig": {"S3OutputPath": f"s3://{site.bucket}/{output_prefix}/"},
        "ResourceConfig": {"InstanceType": site.instance_type, "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": MAX_TRAINING_SECONDS},
        "HyperParameters": dict(hyperparameters),
        "Tags": [{"Key": "experiment_id", "Value": site.experiment_id}],
    }


def training_job_request(
    site: JobSite,
    *,
    job_name: str,
    training_uri: str,
    pretrained_uri: str | None,
    hyperparameters: dict[str, str],
    serving_uri: str | None = None,
) -> dict[str, Any]:
    """CreateTrainingJob for a candidate: job name = model_id, output `s3://B/models/` (docs/contracts.md).

    `serving_uri`: the serving model's artifact, packed into the candidate's so it can serve as a challenger."""
    channels = [_s3_channel(TRAINING_CHANNEL, training_uri, "application/jsonlines")]
    if pretrained_uri:
        channels.append(_s3_channel(PRETRAINED_CHANNEL, pretrained_uri, "application/x-tar"))
    if serving_uri:
        channels.append(_s3_channel(SERVING_MODEL_CHANNEL, serving_uri, "application/x-tar"))
    return _job_request(
        site,
        job_name=job_name,
        algorithm={},
        channels=channels,
        output_prefix="models",
        hyperparameters=hyperparameters,
    )


def metric_definitions() -> list[dict[str, str]]:
    """The evaluator's `METRIC name=value` lines as training-job metrics (visible in the SageMaker console)."""
    names = [f"{policy}_{estimator}" for estimator in ESTIMATORS for policy in ("candidate", "serving", "difference")]
    names += [f"difference_{estimator}_{bound}" for estimator in ESTIMATORS for bound in ("low", "high")]
    return [{"Name": name, "Regex": rf"METRIC {name}={_NUMBER}"} for name in names]


def evaluation_job_request(
    site: JobSite,
    *,
    job_name: str,
    holdout_uri: str,
    candidate_uri: str,
    serving_uri: str | None,
    hyperparameters: dict[str, str],
) -> dict[str, Any]:
    """The evaluation runs as a training job with `ContainerEntrypoint ["evaluate"]`, output `s3://B/evaluations/`."""
    channels = [
        _s3_channel("holdout", holdout_uri, "application/jsonlines"),
        _s3_channel("candidate", candidate_uri, "application/x-tar"),
    ]
    if serving_uri:
        channels.append(_s3_channel("serving", serving_uri, "application/x-tar"))
    algorithm = {"ContainerEntrypoint": ["evaluate"], "MetricDefinitions": metric_definitions()}
    return _job_request(
        site,
        job_name=job_name,
        algorithm=algorithm,
        channels=channels,
        output_prefix="evaluations",
        hyperparameters=hyperparameters,
    )


def model_request(
    *, model_name: str, image_uri: str, role_arn: str, artifact_uri: str | None, environment: dict[str, str]
) -> dict[str, Any]:
    """CreateModel; without an artifact the container serves the uniform-random policy (bootstrap, no data)."""
    container: dict[str, Any] = {"Image": image_uri, "Environment": dict(environment)}
    if artifact_uri:
        container["ModelDataUrl"] = artifact_uri
    return {"ModelName": model_name, "PrimaryContainer": container, "ExecutionRoleArn": role_arn}


def endpoint_config_request(
    *, config_name: str, model_name: str, instance_type: str, instance_count: int
) -> dict[str, Any]:
    """CreateEndpointConfig with the one variant `AllTraffic`."""
    return {
        "EndpointConfigName": config_name,
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "ModelName": model_name,
                "InitialInstanceCount": instance_count,
                "InstanceType": instance_type,
                "InitialVariantWeight": 1.0,
            }
        ],
    }


def canary_instances(instance_count: int, canary_percent: int) -> int:
    """Instances the canary turns on: `canary_percent` of the fleet rounded down, at least one.

    Sized in whole instances (`INSTANCE_COUNT`) so the request does not depend on how SageMaker would round a
    `CAPACITY_PERCENT` of a small fleet; rounded down, the canary stays within SageMaker's limit of 50% of the
    variant's instances whenever `canary_percent` is at most 50.
    """
    return max(1, instance_count * canary_percent // 100)


def traffic_routing(*, instance_count: int, canary_percent: int, canary_wait_seconds: int) -> dict[str, Any]:
    """TrafficRoutingConfig for the fleet size: a canary needs 2+ instances, one instance shifts ALL_AT_ONCE.

    SageMaker's rule (TrafficRoutingConfig): `CanarySize` must be at most 50% of the variant's total instance count,
    so a single-instance variant cannot have a canary; it shifts all at once and bakes for `canary_wait_seconds`
    (`WaitIntervalInSeconds`, 0-3600) under the rollback alarms. `canary_percent` 100 asks for all at once too.
    """
    if instance_count < 1:
        raise ConfigError(f"setting 'bandit.endpoint_instance_count' is {instance_count}; it must be at least 1")
    if instance_count == 1 or canary_percent >= 100:
        return {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": canary_wait_seconds}
    if not 1 <= canary_percent <= MAX_CANARY_PERCENT:
        raise ConfigError(
            f"setting 'bandit.canary_percent' is {canary_percent}; with endpoint_instance_count {instance_count} "
            f"the canary may hold at most {MAX_CANARY_PERCENT}% of the instances (or use 100 for all at once)"
        )
    return {
        "Type": "CANARY",
        "CanarySize": {"Type": "INSTANCE_COUNT", "Value": canary_instances(instance_count, canary_percent)},
        "WaitIntervalInSeconds": canary_wait_seconds,
    }


def deployment_config(
    *,
    instance_count: int,
    canary_percent: int,
    canary_wait_seconds: int,
    termination_wait_seconds: int,
    alarm_names: list[str],
) -> dict[str, Any]:
    """Blue/green (canary with 2+ instances, else all at once with a bake), rolled back by the endpoint's alarms.

    The timeout must exceed the traffic waits plus the termination wait (API range 600-28800 s); an hour on top
    leaves room for provisioning the green fleet.
    """
    routing = traffic_routing(
        instance_count=instance_count, canary_percent=canary_percent, canary_wait_seconds=canary_wait_seconds
    )
    timeout = rollout_timeout_seconds(canary_wait_seconds, termination_wait_seconds)
    config: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": termination_wait_seconds,
            "MaximumExecutionTimeoutInSeconds": timeout,
        }
    }
    if alarm_names:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": name} for name in alarm_names]}
    return config


def update_endpoint_request(*, endpoint_name: str, config_name: str, deployment: dict[str, Any]) -> dict[str, Any]:
    return {"EndpointName": endpoint_name, "EndpointConfigName": config_name, "DeploymentConfig": deployment}
