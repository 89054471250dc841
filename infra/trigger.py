"""S3 `Object Created` under `rewards/` -> EventBridge -> the trigger Lambda, with nothing dropped silently."""

from __future__ import annotations

from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.data_lake import REWARDS_PREFIX
from infra.rule_to_function import rule_to_function


class RewardsTrigger(Construct):
    """The EventBridge rule on the data-lake bucket, and a dead-letter queue for events that could not be handled.

    Events EventBridge cannot deliver, and invocations that still fail after Lambda's async retries, land in the
    queue, so a reward object that was never counted can be found and replayed.
    """

    def __init__(self, scope: Construct, construct_id: str, *, bucket: s3.IBucket, function: lambda_.IFunction):
        super().__init__(scope, construct_id)
        self.dead_letters, self.rule = rule_to_function(
            self,
            rule_id="RewardObjectCreated",
            description="A Firehose object under rewards/ landed in the data lake",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [bucket.bucket_name]},
                    "object": {"key": [{"prefix": REWARDS_PREFIX}]},
                },
            ),
            function=function,
            dead_letters_of="the rewards rule and of the trigger's async invocations",
        )
