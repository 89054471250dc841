"""Step Functions `Execution Status Change` (ABORTED, TIMED_OUT, FAILED) of the retrain state machine -> reconcile.

A run that ends without `Finalize` (stopped by hand, timed out, failed) can leave the endpoint serving a model the
registry does not name, and the run lock taken. Step Functions sends every status change of a standard workflow to
the default event bus ("Automating Step Functions event delivery with EventBridge",
https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html); this rule picks the three ended
statuses of this one state machine and runs the reconcile Lambda. Delivery is best effort and at least once, so the
handler is idempotent; events it cannot deliver, and invocations that still fail, land in a dead-letter queue.
"""

from __future__ import annotations

from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.rule_to_function import rule_to_function

SOURCE = "aws.states"
DETAIL_TYPE = "Step Functions Execution Status Change"
RECONCILED_STATUSES = ("ABORTED", "TIMED_OUT", "FAILED")
"""SUCCEEDED always passes through Finalize; RUNNING has nothing to reconcile yet."""


class RunReconciler(Construct):
    """The EventBridge rule on the state machine's ended executions, and its dead-letter queue."""

    def __init__(
        self, scope: Construct, construct_id: str, *, state_machine: sfn.IStateMachine, function: lambda_.IFunction
    ):
        super().__init__(scope, construct_id)
        self.dead_letters, self.rule = rule_to_function(
            self,
            rule_id="ExecutionEnded",
            description="A retrain execution ended ABORTED, TIMED_OUT or FAILED: reconcile the registry and lock",
            event_pattern=events.EventPattern(
                source=[SOURCE],
                detail_type=[DETAIL_TYPE],
                detail={
                    "stateMachineArn": [state_machine.state_machine_arn],
                    "status": list(RECONCILED_STATUSES),
                },
            ),
            function=function,
            dead_letters_of="the reconcile rule and of its async invocations",
        )
