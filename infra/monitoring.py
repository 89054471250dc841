"""The CloudWatch dashboard of the loop (rewards in, rows joined, scores, promotions, rollbacks, traffic) and the
drift alarm: the serving model's realized reward left what its evaluation predicted."""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.endpoint_alarms import EndpointAlarms
from infra.names import (
    METRIC_CANDIDATE_VALUE,
    METRIC_DRIFT_DETECTED,
    METRIC_PROMOTIONS,
    METRIC_REWARDS_COUNTED,
    METRIC_ROLLBACKS,
    METRIC_ROWS_JOINED,
    METRIC_RUNS_FAILED,
    METRIC_SERVING_VALUE,
    METRICS_NAMESPACE,
    ResourceNames,
)

PERIOD = Duration.minutes(5)


def _pipeline_metric(metric_name: str, statistic: str, label: str) -> cloudwatch.MathExpression:
    """A SEARCH over the Powertools namespace: matches the metric whatever dimensions the handler adds."""
    return cloudwatch.MathExpression(
        expression=(
            f'SEARCH(\'Namespace="{METRICS_NAMESPACE}" MetricName="{metric_name}"\', '
            f"'{statistic}', {int(PERIOD.to_seconds())})"
        ),
        label=label,
        period=PERIOD,
    )


def _graph(title: str, *metrics: cloudwatch.IMetric) -> cloudwatch.GraphWidget:
    """A third of the dashboard's width, the metrics on the left axis."""
    return cloudwatch.GraphWidget(title=title, left=list(metrics), width=8)


class Monitoring(Construct):
    """One dashboard; the Powertools EMF metrics come from the Lambdas, the rest from AWS/SageMaker and AWS/States."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        names: ResourceNames,
        state_machine: sfn.StateMachine,
        alarms: EndpointAlarms,
    ):
        super().__init__(scope, construct_id)
        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=names.dashboard, default_interval=Duration.hours(6)
        )
        invocations = cloudwatch.MathExpression(
            expression=(
                'SEARCH(\'{AWS/SageMaker,EndpointName,VariantName} MetricName="Invocations" '
                f"EndpointName=\"{names.endpoint_name}\"', 'Sum', 60)"
            ),
            label="Invocations",
            period=Duration.minutes(1),
        )
        self.dashboard.add_widgets(
            _graph("Rewards counted", _pipeline_metric(METRIC_REWARDS_COUNTED, "Sum", "rewards")),
            _graph("Joined rows per run", _pipeline_metric(METRIC_ROWS_JOINED, "Sum", "rows")),
            _graph(
                "Estimated policy value (candidate vs serving)",
                _pipeline_metric(METRIC_CANDIDATE_VALUE, "Average", "candidate"),
                _pipeline_metric(METRIC_SERVING_VALUE, "Average", "serving"),
            ),
        )
        self.dashboard.add_widgets(
            _graph(
                "Promotions and rollbacks",
                _pipeline_metric(METRIC_PROMOTIONS, "Sum", "promotions"),
                _pipeline_metric(METRIC_ROLLBACKS, "Sum", "rollbacks"),
            ),
            _graph(
                "Retraining runs",
                state_machine.metric_started(period=PERIOD, label="started"),
                state_machine.metric_succeeded(period=PERIOD, label="succeeded"),
                state_machine.metric_failed(period=PERIOD, label="failed"),
                _pipeline_metric(METRIC_RUNS_FAILED, "Sum", "recorded failures"),
            ),
            _graph(f"Endpoint {names.endpoint_name}: invocations per variant", invocations),
        )
        self.dashboard.add_widgets(
            *(
                cloudwatch.AlarmWidget(title=f"Rollback alarm {name}", alarm=alarm, width=12)
                for alarm, name in zip(alarms.alarms, alarms.alarm_names, strict=True)
            )
        )
        # The evaluate function emits DriftDetected (1 or 0) on every run whose serving model it could check, with
        # Powertools' one dimension `service` (POWERTOOLS_SERVICE_NAME, the experiment id); an alarm needs the exact
        # metric, not a SEARCH. A run is minutes apart at most, so one period with a 1 raises it.
        drift = cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=METRIC_DRIFT_DETECTED,
            dimensions_map={"service": names.experiment_id},
            statistic="Maximum",
            period=PERIOD,
        )
        self.drift_alarm = cloudwatch.Alarm(
            self,
            "DriftAlarm",
            alarm_name=names.alarm_drift,
            alarm_description=(
                "The serving model's realized reward left the band its evaluation predicted (CUSUM e-detector, "
                "docs/evaluation.md): the next run retrains on the rows after the change with more exploration."
            ),
            metric=drift,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.dashboard.add_widgets(cloudwatch.AlarmWidget(title="Drift alarm", alarm=self.drift_alarm, width=12))
        self.dashboard_url = (
            f"https://console.aws.amazon.com/cloudwatch/home?region={Aws.REGION}#dashboards:name={names.dashboard}"
        )
