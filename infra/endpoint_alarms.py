"""Alarms that roll a blue/green endpoint update back (`AutoRollbackConfiguration`)."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from infra.names import ENDPOINT_VARIANT, ResourceNames

ERROR_THRESHOLD = 1
"""Any 5XX from the new fleet during the canary is a reason to roll back: the policy server should never fail."""
LATENCY_THRESHOLD_MICROSECONDS = 500_000
"""`ModelLatency` is in microseconds; a VW prediction takes well under a millisecond, so 0.5 s means trouble."""
PERIOD = Duration.minutes(1)


@dataclass(frozen=True)
class RollbackAlarm:
    """One alarm on an `AWS/SageMaker` metric of the endpoint's variant."""

    construct_id: str
    description: str
    statistic: str
    threshold: float
    comparison: cloudwatch.ComparisonOperator
    evaluation_periods: int
    datapoints_to_alarm: int | None = None
    """Breaching datapoints within the evaluation periods (CloudWatch's default: all of them)."""


ERRORS = RollbackAlarm(
    "Invocation5XXErrors",
    "5XX responses of the policy endpoint; a blue/green update rolls back when it fires",
    cloudwatch.Stats.SUM,
    ERROR_THRESHOLD,
    cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluation_periods=1,
)
LATENCY = RollbackAlarm(
    "ModelLatency",
    "Average model latency of the policy endpoint; a blue/green update rolls back on it",
    cloudwatch.Stats.AVERAGE,
    LATENCY_THRESHOLD_MICROSECONDS,
    cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluation_periods=2,
    datapoints_to_alarm=2,
)


class EndpointAlarms(Construct):
    """5XX errors and model latency of `<experiment_id>-policy` / `AllTraffic`.

    The endpoint is created by the pipeline, not by CloudFormation, so the alarms are defined on its name; they sit
    in INSUFFICIENT_DATA / OK until traffic arrives. Missing data is not breaching: an idle endpoint must not roll back.
    """

    def __init__(self, scope: Construct, construct_id: str, *, names: ResourceNames):
        super().__init__(scope, construct_id)
        self._dimensions = {"EndpointName": names.endpoint_name, "VariantName": ENDPOINT_VARIANT}
        self.errors = self._alarm(ERRORS, names.alarm_5xx)
        self.latency = self._alarm(LATENCY, names.alarm_latency)
        self.alarms = [self.errors, self.latency]
        self.alarm_names = [names.alarm_5xx, names.alarm_latency]

    def _alarm(self, spec: RollbackAlarm, alarm_name: str) -> cloudwatch.Alarm:
        """The metric is named like the construct, on the endpoint's one variant."""
        return cloudwatch.Alarm(
            self,
            spec.construct_id,
            alarm_name=alarm_name,
            alarm_description=spec.description,
            metric=cloudwatch.Metric(
                namespace="AWS/SageMaker",
                metric_name=spec.construct_id,
                dimensions_map=self._dimensions,
                statistic=spec.statistic,
                period=PERIOD,
            ),
            threshold=spec.threshold,
            comparison_operator=spec.comparison,
            evaluation_periods=spec.evaluation_periods,
            datapoints_to_alarm=spec.datapoints_to_alarm,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
