"""S3 `Object Created` under `rewards/` -> EventBridge -> the trigger Lambda, with nothing dropped silently."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import nag
from infra.data_lake import REWARDS_PREFIX


class RewardsTrigger(Construct):
    """The EventBridge rule on the data-lake bucket, and a dead-letter queue for events that could not be handled.

    Events EventBridge cannot deliver, and invocations that still fail after Lambda's async retries, land in the
    queue, so a reward object that was never counted can be found and replayed.
    """

    def __init__(self, scope: Construct, construct_id: str, *, bucket: s3.IBucket, function: lambda_.IFunction):
        super().__init__(scope, construct_id)
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=RemovalPolicy.DESTROY,
        )
        nag.acknowledge(
            self.dead_letters,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter queue of the rewards rule and of the trigger's async invocations.",
        )
        self.rule = events.Rule(
            self,
            "RewardObjectCreated",
            description="A Firehose object under rewards/ landed in the data lake",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [bucket.bucket_name]},
                    "object": {"key": [{"prefix": REWARDS_PREFIX}]},
                },
            ),
            targets=[
                targets.LambdaFunction(
                    function,
                    dead_letter_queue=self.dead_letters,
                    retry_attempts=8,
                    max_event_age=Duration.hours(6),
                )
            ],
        )
        function.configure_async_invoke(
            on_failure=destinations.SqsDestination(self.dead_letters),
            retry_attempts=2,
            max_event_age=Duration.hours(6),
        )
