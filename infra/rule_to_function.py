"""An EventBridge rule whose Lambda target keeps what it cannot handle: one dead-letter queue for the events
EventBridge cannot deliver and for the invocations that still fail after Lambda's async retries, so nothing is
lost and each can be found and replayed. The trigger and the reconciler are both built this way."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import nag


def rule_to_function(
    scope: Construct,
    *,
    rule_id: str,
    description: str,
    event_pattern: events.EventPattern,
    function: lambda_.IFunction,
    dead_letters_of: str,
) -> tuple[sqs.Queue, events.Rule]:
    """The queue (`<scope>/DeadLetters`) and the rule (`<scope>/<rule_id>`); `dead_letters_of` names what the queue
    is the dead-letter queue of, for the cdk-nag acknowledgement."""
    dead_letters = sqs.Queue(
        scope,
        "DeadLetters",
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(14),
        removal_policy=RemovalPolicy.DESTROY,
    )
    nag.acknowledge(
        dead_letters, "AwsSolutions-SQS3", f"This queue is itself the dead-letter queue of {dead_letters_of}."
    )
    rule = events.Rule(
        scope,
        rule_id,
        description=description,
        event_pattern=event_pattern,
        targets=[
            targets.LambdaFunction(
                function, dead_letter_queue=dead_letters, retry_attempts=8, max_event_age=Duration.hours(6)
            )
        ],
    )
    function.configure_async_invoke(
        on_failure=destinations.SqsDestination(dead_letters), retry_attempts=2, max_event_age=Duration.hours(6)
    )
    return dead_letters, rule
