"""Alarms that roll a blue/green endpoint update back (`AutoRollbackConfiguration`)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from infra.names import ENDPOINT_VARIANT, ResourceNames

ERROR_THRESHOLD = 1
"""Any 5XX from the new fleet during the canary is a reason to roll back: the policy server should never fail."""
LATENCY_THRESHOLD_MICROSECONDS = 500_000
"""`ModelLatency` is in microseconds; a VW prediction takes well under a millisecond, so 0.5 s means trouble."""
PERIOD = Duration.minutes(1)


class EndpointAlarms(Construct):
    """5XX errors and model latency of `<experiment_id>-policy` / `AllTraffic`.

    The endpoint is created by the pipeline, not by CloudFormation, so the alarms are defined on its name; they sit
    in INSUFFICIENT_DATA / OK until traffic arrives. Missing data is not breaching: an idle endpoint must not roll back.
    """

    def __init__(self, scope: Construct, construct_id: str, *, names: ResourceNames):
        super().__init__(scope, construct_id)
        dimensions = {"EndpointName": names.endpoint_name, "VariantName": ENDPOINT_VARIANT}
        self.errors = cloudwatch.Alarm(
            self,
            "Invocation5XXErrors",
            alarm_name=names.alarm_5xx,
            alarm_description="5XX responses of the policy endpoint; a blue/green update rolls back when it fires",
            metric=cloudwatch.Metric(
                namespace="AWS/SageMaker",
                metric_name="Invocation5XXErrors",
                dimensions_map=dimensions,
                statistic=cloudwatch.Stats.SUM,
                period=PERIOD,
            ),
            threshold=ERROR_THRESHOLD,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.latency = cloudwatch.Alarm(
            self,
            "ModelLatency",
            alarm_name=names.alarm_latency,
            alarm_description="Average model latency of the policy endpoint; a blue/green update rolls back on it",
            metric=cloudwatch.Metric(
                namespace="AWS/SageMaker",
                metric_name="ModelLatency",
                dimensions_map=dimensions,
                statistic=cloudwatch.Stats.AVERAGE,
                period=PERIOD,
            ),
            threshold=LATENCY_THRESHOLD_MICROSECONDS,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=2,
            datapoints_to_alarm=2,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.alarms = [self.errors, self.latency]
        self.alarm_names = [names.alarm_5xx, names.alarm_latency]
