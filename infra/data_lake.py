"""The data lake: one bucket, the two Firehose streams that fill it, the Glue catalog and the Athena workgroup."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from contract.records import DECISION_FIELDS, REWARD_FIELDS, glue_columns
from contract.timefmt import GLUE_HOUR_PARTITION_FORMAT
from infra import access, nag
from infra.log_groups import log_group
from infra.names import ResourceNames

DECISIONS_PREFIX = "decisions/"
REWARDS_PREFIX = "rewards/"
ERRORS_PREFIX = "errors/"
QUARANTINE_PREFIX = "quarantine/"
JOINED_PREFIX = "joined/"
MODELS_PREFIX = "models/"
EVALUATIONS_PREFIX = "evaluations/"
ATHENA_RESULTS_PREFIX = "athena-results/"

FIREHOSE_BUFFER_SECONDS = 60
"""Firehose flushes at least once a minute: rewards reach S3 (and the trigger) within a minute of arriving."""
DELIVERY_MARGIN_SECONDS = 30
"""Added to the buffer interval for the pipeline's `DELIVERY_LAG_SECONDS` (how long after it was sent a record may
land in S3): the serving logger's batching and retries, and Firehose's own delivery time."""
FIREHOSE_BUFFER_MIB = 1
"""A small size threshold so a burst of traffic is delivered in small objects, not held back."""

# JSON SerDe columns: the contract's record fields with their Glue types (`contract.records`, all `string`: the
# OpenX JSON SerDe fails the whole query on a value that does not convert to a typed column, `HIVE_BAD_DATA` even with
# `ignore.malformed.json`, so the join SQL converts the strings and counts what does not convert as malformed).
DECISION_COLUMNS: tuple[tuple[str, str], ...] = glue_columns(DECISION_FIELDS)
REWARD_COLUMNS: tuple[tuple[str, str], ...] = glue_columns(REWARD_FIELDS)
SERDE_PARAMETERS: dict[str, str] = {"ignore.malformed.json": "true"}
"""A line that is not JSON becomes a row of nulls, which the join counts, instead of failing the query."""
PROJECTION_START = "2024/01/01/00"
"""Lower bound of the `dt` projection; every query also pins `dt BETWEEN ...`, so the bound only guards typos."""
JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"


def table_parameters(location: str) -> dict[str, str]:
    """A table's parameters: JSON, and `dt` projected from the Firehose hour folders under `location`."""
    return {
        "classification": "json",
        "EXTERNAL": "TRUE",
        "projection.enabled": "true",
        "projection.dt.type": "date",
        "projection.dt.format": GLUE_HOUR_PARTITION_FORMAT,
        "projection.dt.range": f"{PROJECTION_START},NOW",
        "projection.dt.interval": "1",
        "projection.dt.interval.unit": "HOURS",
        "storage.location.template": f"{location}${{dt}}/",
    }


def glue_table_input(
    name: str,
    location: str,
    columns: tuple[tuple[str, str], ...] | list[tuple[str, str]],
    serde_parameters: dict[str, str] = SERDE_PARAMETERS,
) -> dict[str, Any]:
    """The Glue `TableInput` of a table as the stack defines it (`DataLake._table`), for a local or test lake."""
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": table_parameters(location),
        "PartitionKeys": [{"Name": "dt", "Type": "string"}],
        "StorageDescriptor": {
            "Columns": [{"Name": column, "Type": kind} for column, kind in columns],
            "Location": location,
            "SerdeInfo": {"SerializationLibrary": JSON_SERDE, "Parameters": dict(serde_parameters)},
        },
    }


class DataLake(Construct):
    """Bucket, Firehose streams, Glue tables with partition projection and the Athena workgroup.

    Encryption is SSE-S3 (S3-managed keys), not a customer KMS key: every principal here (Firehose, Athena,
    SageMaker, six Lambdas) would otherwise also need `kms:Decrypt`/`GenerateDataKey` grants, and each S3 request
    would cost a KMS call; the data holds no secrets and access is controlled by the prefix-scoped IAM policies.
    """

    def __init__(self, scope: Construct, construct_id: str, *, names: ResourceNames, log_retention: logs.RetentionDays):
        super().__init__(scope, construct_id)
        self.names = names

        self.logs_bucket = self._bucket(
            "AccessLogs",
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(365))],
        )
        self.bucket = self._bucket(
            "Bucket",
            server_access_logs_bucket=self.logs_bucket,
            server_access_logs_prefix="data-lake/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(1)
                ),
                s3.LifecycleRule(id="expire-athena-results", prefix=ATHENA_RESULTS_PREFIX, expiration=Duration.days(7)),
            ],
        )
        # S3 -> EventBridge through the bucket's own NotificationConfiguration. The L2 `event_bridge_enabled=True`
        # would add a custom-resource Lambda (Custom::S3BucketNotifications) to set the same flag.
        cfn_bucket: s3.CfnBucket = self.bucket.node.default_child  # type: ignore[assignment]
        cfn_bucket.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
            event_bridge_configuration=s3.CfnBucket.EventBridgeConfigurationProperty(event_bridge_enabled=True)
        )

        # One Firehose stream and one Glue table per record kind: (construct id, stream, table, prefix, columns).
        kinds = (
            ("Decisions", names.decisions_stream, names.glue_decisions_table, DECISIONS_PREFIX, DECISION_COLUMNS),
            ("Rewards", names.rewards_stream, names.glue_rewards_table, REWARDS_PREFIX, REWARD_COLUMNS),
        )
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=Aws.ACCOUNT_ID,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=names.glue_database, description="Decision and reward records of the bandit pipeline"
            ),
        )
        self.streams: dict[str, firehose.CfnDeliveryStream] = {}
        self.tables: dict[str, glue.CfnTable] = {}
        for kind, stream, table, prefix, columns in kinds:
            self.streams[kind] = self._delivery_stream(
                kind, stream_name=stream, prefix=prefix, log_retention=log_retention
            )
            self.tables[kind] = self._table(f"{kind}Table", name=table, prefix=prefix, columns=columns)
        self.decisions_stream, self.rewards_stream = self.streams["Decisions"], self.streams["Rewards"]
        self.decisions_table, self.rewards_table = self.tables["Decisions"], self.tables["Rewards"]

        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=names.athena_workgroup,
            description="Join queries of the bandit pipeline; results encrypted under athena-results/",
            state="ENABLED",
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=100 * 1024**3,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=self.bucket.s3_url_for_object(ATHENA_RESULTS_PREFIX),
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"
                    ),
                ),
            ),
        )

    def _bucket(self, construct_id: str, **properties: Any) -> s3.Bucket:
        """A data lake bucket: SSE-S3, public access blocked, SSL only, owner-enforced, retained with the data."""
        return s3.Bucket(
            self,
            construct_id,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=RemovalPolicy.RETAIN,
            **properties,
        )

    @property
    def workgroup_arn(self) -> str:
        return Stack.of(self).format_arn(
            service="athena", resource="workgroup", resource_name=self.names.athena_workgroup
        )

    def glue_arns(self) -> list[str]:
        """The catalog, the database and the two tables (Athena resolves all three levels)."""
        stack = Stack.of(self)
        db = self.names.glue_database
        return [
            stack.format_arn(service="glue", resource="catalog"),
            stack.format_arn(service="glue", resource="database", resource_name=db),
            stack.format_arn(service="glue", resource="table", resource_name=f"{db}/{self.names.glue_decisions_table}"),
            stack.format_arn(service="glue", resource="table", resource_name=f"{db}/{self.names.glue_rewards_table}"),
        ]

    def grant_query(self, principal: iam.IGrantable) -> None:
        """Run Athena queries in the workgroup over the Glue tables (S3 access is granted separately by prefix)."""
        principal.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "athena:StartQueryExecution",
                    "athena:GetQueryExecution",
                    "athena:GetQueryResults",
                    "athena:GetWorkGroup",
                ],
                resources=[self.workgroup_arn],
            )
        )
        principal.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "glue:GetDatabase",
                    "glue:GetTable",
                    "glue:GetPartition",
                    "glue:GetPartitions",
                ],
                resources=self.glue_arns(),
            )
        )

    def stream_arn(self, stream: firehose.CfnDeliveryStream) -> str:
        return stream.attr_arn

    def _delivery_stream(
        self, construct_id: str, *, stream_name: str, prefix: str, log_retention: logs.RetentionDays
    ) -> firehose.CfnDeliveryStream:
        """DirectPut -> S3 under `prefix`, Firehose's default `YYYY/MM/DD/HH/` (UTC) below it, errors apart."""
        error_prefix = f"{ERRORS_PREFIX}{prefix}"
        role = iam.Role(
            self,
            f"{construct_id}DeliveryRole",
            assumed_by=iam.ServicePrincipal(
                "firehose.amazonaws.com", conditions={"StringEquals": {"sts:ExternalId": Aws.ACCOUNT_ID}}
            ),
            description=f"Firehose {stream_name}: write {prefix} and {error_prefix} of the data lake",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                resources=[self.bucket.bucket_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"],
                resources=access.object_arns(self.bucket, [prefix, error_prefix]),
            )
        )
        nag.acknowledge_prefixes(
            role,
            self.bucket,
            [prefix, error_prefix],
            "Firehose writes objects with generated names under its own prefix and error prefix only.",
        )
        group = log_group(self, f"{construct_id}DeliveryLogs", retention=log_retention, writer=role)
        # CDK retains log streams by default; deleting the group deletes its streams, so retaining one is moot.
        log_stream = logs.LogStream(
            self,
            f"{construct_id}DeliveryLogStream",
            log_group=group,
            log_stream_name="S3Delivery",
            removal_policy=RemovalPolicy.DESTROY,
        )

        stream = firehose.CfnDeliveryStream(
            self,
            construct_id,
            delivery_stream_name=stream_name,
            delivery_stream_type="DirectPut",
            delivery_stream_encryption_configuration_input=firehose.CfnDeliveryStream.DeliveryStreamEncryptionConfigurationInputProperty(
                key_type="AWS_OWNED_CMK"
            ),
            extended_s3_destination_configuration=firehose.CfnDeliveryStream.ExtendedS3DestinationConfigurationProperty(
                bucket_arn=self.bucket.bucket_arn,
                role_arn=role.role_arn,
                prefix=prefix,
                error_output_prefix=error_prefix,
                compression_format="UNCOMPRESSED",
                buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(
                    interval_in_seconds=FIREHOSE_BUFFER_SECONDS, size_in_m_bs=FIREHOSE_BUFFER_MIB
                ),
                encryption_configuration=firehose.CfnDeliveryStream.EncryptionConfigurationProperty(
                    no_encryption_config="NoEncryption"
                ),
                cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                    enabled=True, log_group_name=group.log_group_name, log_stream_name=log_stream.log_stream_name
                ),
                # Firehose puts the newline after each record (its default delimiter): producers send bare JSON, and
                # one that forgot a newline can no longer merge its record with the next producer's.
                processing_configuration=firehose.CfnDeliveryStream.ProcessingConfigurationProperty(
                    enabled=True,
                    processors=[firehose.CfnDeliveryStream.ProcessorProperty(type="AppendDelimiterToRecord")],
                ),
            ),
        )
        # Firehose checks its role's permissions at creation time: create the stream after the role's policy.
        default_policy = role.node.try_find_child("DefaultPolicy")
        if default_policy is not None:
            stream.node.add_dependency(default_policy)
        return stream

    def _table(
        self, construct_id: str, *, name: str, prefix: str, columns: tuple[tuple[str, str], ...]
    ) -> glue.CfnTable:
        """JSON-lines table over a Firehose prefix; `dt` is projected from the hour folders, never crawled."""
        location = self.bucket.s3_url_for_object(prefix)
        table = glue.CfnTable(
            self,
            construct_id,
            catalog_id=Aws.ACCOUNT_ID,
            database_name=self.names.glue_database,
            table_input=glue.CfnTable.TableInputProperty(
                name=name,
                table_type="EXTERNAL_TABLE",
                parameters=table_parameters(location),
                partition_keys=[glue.CfnTable.ColumnProperty(name="dt", type="string")],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=location,
                    input_format="org.apache.hadoop.mapred.TextInputFormat",
                    output_format="org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library=JSON_SERDE,
                        parameters=dict(SERDE_PARAMETERS),
                    ),
                    columns=[glue.CfnTable.ColumnProperty(name=col, type=kind) for col, kind in columns],
                ),
            ),
        )
        table.node.add_dependency(self.database)
        return table
