"""Metadata tables: experiments, the model registry, join runs, the run lock and counter, idempotency records."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from infra.names import ResourceNames

# Table key -> partition key attribute (docs/contracts.md).
TABLE_KEYS: dict[str, str] = {
    "experiments": "experiment_id",
    "models": "model_id",
    "joins": "run_id",
    "state": "pk",
    "idempotency": "id",
}
IDEMPOTENCY_TTL_ATTRIBUTE = "expiration"
"""Powertools' idempotency schema keeps the expiry epoch here; DynamoDB TTL removes expired records."""


class Metadata(Construct):
    """On-demand tables with point-in-time recovery and AWS-managed KMS encryption.

    The registry and the experiment state are the pipeline's memory (which model serves, the watermark of the last
    consumed window), so they are retained on stack deletion under their fixed names, to be taken back into a new
    stack with `cdk import` (infra/retained.py writes the mapping); the idempotency and state tables are scratch
    state and are deleted with the stack.
    """

    def __init__(self, scope: Construct, construct_id: str, *, names: ResourceNames):
        super().__init__(scope, construct_id)
        self.tables: dict[str, dynamodb.Table] = {}
        for key, partition_key in TABLE_KEYS.items():
            scratch = key in ("state", "idempotency")
            self.tables[key] = dynamodb.Table(
                self,
                key.capitalize(),
                table_name=names.table(key),
                partition_key=dynamodb.Attribute(name=partition_key, type=dynamodb.AttributeType.STRING),
                billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
                encryption=dynamodb.TableEncryption.AWS_MANAGED,
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True
                ),
                time_to_live_attribute=IDEMPOTENCY_TTL_ATTRIBUTE if key == "idempotency" else None,
                removal_policy=RemovalPolicy.DESTROY if scratch else RemovalPolicy.RETAIN,
            )
        self.experiments: dynamodb.Table = self.tables["experiments"]
        self.models: dynamodb.Table = self.tables["models"]
        self.joins: dynamodb.Table = self.tables["joins"]
        self.state: dynamodb.Table = self.tables["state"]
        self.idempotency: dynamodb.Table = self.tables["idempotency"]
