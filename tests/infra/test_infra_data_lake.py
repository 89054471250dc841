"""Data lake: bucket hardening, EventBridge notifications, Firehose streams, Glue projection, Athena workgroup."""

from __future__ import annotations

from aws_cdk.assertions import Match

from infra.data_lake import DECISION_COLUMNS, REWARD_COLUMNS

PROJECTION = {
    "projection.enabled": "true",
    "projection.dt.type": "date",
    "projection.dt.format": "yyyy/MM/dd/HH",
    "projection.dt.interval": "1",
    "projection.dt.interval.unit": "HOURS",
}


def _data_bucket(synth):
    buckets = {k: v for k, v in synth.of_type("AWS::S3::Bucket").items() if "LoggingConfiguration" in v["Properties"]}
    assert len(buckets) == 1, buckets.keys()
    return next(iter(buckets.items()))


def test_buckets_are_encrypted_private_and_ssl_only(synth):
    buckets = synth.of_type("AWS::S3::Bucket")
    assert len(buckets) == 2  # data lake + access logs
    for props in (b["Properties"] for b in buckets.values()):
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "AES256"
        }
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
    policies = synth.of_type("AWS::S3::BucketPolicy")
    ssl_denies = [
        s
        for p in policies.values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(ssl_denies) == 2


def test_data_bucket_logs_access_and_notifies_eventbridge_without_custom_resource(synth):
    _, bucket = _data_bucket(synth)
    props = bucket["Properties"]
    assert props["LoggingConfiguration"]["DestinationBucketName"]["Ref"] in synth.of_type("AWS::S3::Bucket")
    assert props["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    types = {r["Type"] for r in synth.resources.values()}
    assert "Custom::S3BucketNotifications" not in types
    assert not any(t.startswith("Custom::") or t == "AWS::CloudFormation::CustomResource" for t in types)


def test_firehose_streams_deliver_hour_prefixes(synth):
    streams = synth.of_type("AWS::KinesisFirehose::DeliveryStream")
    by_name = {s["Properties"]["DeliveryStreamName"]: s["Properties"] for s in streams.values()}
    experiment = synth.settings.experiment_id
    assert set(by_name) == {f"{experiment}-decisions", f"{experiment}-rewards"}
    for kind in ("decisions", "rewards"):
        props = by_name[f"{experiment}-{kind}"]
        assert props["DeliveryStreamType"] == "DirectPut"
        assert props["DeliveryStreamEncryptionConfigurationInput"] == {"KeyType": "AWS_OWNED_CMK"}
        dest = props["ExtendedS3DestinationConfiguration"]
        # No `!{...}` expressions: Firehose appends its default UTC `YYYY/MM/DD/HH/` below the prefix.
        assert dest["Prefix"] == f"{kind}/"
        assert dest["ErrorOutputPrefix"] == f"errors/{kind}/"
        assert dest["BufferingHints"]["IntervalInSeconds"] <= 60
        assert dest["BufferingHints"]["SizeInMBs"] <= 5
        assert dest["CompressionFormat"] == "UNCOMPRESSED"
        assert dest["CloudWatchLoggingOptions"]["Enabled"] is True
        assert dest["BucketARN"] == {"Fn::GetAtt": [_data_bucket(synth)[0], "Arn"]}


def test_firehose_streams_delimit_every_record_as_the_local_firehose_reads_it(synth):
    """Producers send bare JSON objects: each stream's AppendDelimiterToRecord processor (default delimiter: a
    newline) keeps one record per line in S3, and the local Firehose reads the same setting from the template."""
    from types import SimpleNamespace

    from local.firehose import delimiter_of

    streams = synth.of_type("AWS::KinesisFirehose::DeliveryStream")
    assert len(streams) == 2
    for stream in streams.values():
        dest = stream["Properties"]["ExtendedS3DestinationConfiguration"]
        assert dest["ProcessingConfiguration"] == {"Enabled": True, "Processors": [{"Type": "AppendDelimiterToRecord"}]}
        assert delimiter_of(SimpleNamespace(destinations=[{"ExtendedS3": dest}])) == b"\n"


def test_glue_tables_project_the_hour_partitions(synth):
    synth.template.has_resource_properties(
        "AWS::Glue::Database", {"DatabaseInput": {"Name": f"{synth.settings.experiment_id.replace('-', '_')}_lake"}}
    )
    tables = {t["Properties"]["TableInput"]["Name"]: t for t in synth.of_type("AWS::Glue::Table").values()}
    assert set(tables) == {"decisions", "rewards"}
    bucket_id = _data_bucket(synth)[0]
    for name, columns in (("decisions", DECISION_COLUMNS), ("rewards", REWARD_COLUMNS)):
        table = tables[name]
        assert "DependsOn" in table  # the database has a literal name: order must be explicit
        table_input = table["Properties"]["TableInput"]
        params = table_input["Parameters"]
        for key, value in PROJECTION.items():
            assert params[key] == value, key
        assert params["storage.location.template"] == {
            "Fn::Join": ["", ["s3://", {"Ref": bucket_id}, f"/{name}/${{dt}}/"]]
        }
        assert table_input["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
        sd = table_input["StorageDescriptor"]
        assert sd["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
        assert [(c["Name"], c["Type"]) for c in sd["Columns"]] == list(columns)
        assert sd["SerdeInfo"]["Parameters"] == {"ignore.malformed.json": "true"}
    # Fields a producer sets are strings: the OpenX SerDe fails the whole query on a value that does not fit a typed
    # column (HIVE_BAD_DATA), even with ignore.malformed.json; the join SQL converts them with try_cast.
    assert set(dict(DECISION_COLUMNS).values()) == {"string"}
    assert set(dict(REWARD_COLUMNS).values()) == {"string"}


def test_athena_workgroup_enforces_encrypted_results(synth):
    synth.template.has_resource_properties(
        "AWS::Athena::WorkGroup",
        {
            "Name": f"{synth.settings.experiment_id}-pipeline",
            "WorkGroupConfiguration": {
                "EnforceWorkGroupConfiguration": True,
                "EngineVersion": {"SelectedEngineVersion": "Athena engine version 3"},
                "ResultConfiguration": {
                    "OutputLocation": {
                        "Fn::Join": ["", ["s3://", {"Ref": _data_bucket(synth)[0]}, "/athena-results/"]]
                    },
                    "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
                },
            },
        },
    )


def test_log_groups_use_the_retention_setting(synth):
    groups = synth.of_type("AWS::Logs::LogGroup")
    assert groups
    for group in groups.values():
        assert group["Properties"]["RetentionInDays"] == synth.settings.log_retention_days


def test_metadata_tables(synth):
    experiment = synth.settings.experiment_id
    keys = {"experiments": "experiment_id", "models": "model_id", "joins": "run_id", "state": "pk", "idempotency": "id"}
    tables = {t["Properties"]["TableName"]: t["Properties"] for t in synth.of_type("AWS::DynamoDB::Table").values()}
    assert set(tables) == {f"{experiment}-{k}" for k in keys}
    for key, attribute in keys.items():
        props = tables[f"{experiment}-{key}"]
        assert props["KeySchema"] == [{"AttributeName": attribute, "KeyType": "HASH"}]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["SSESpecification"]["SSEEnabled"] is True
    assert tables[f"{experiment}-idempotency"]["TimeToLiveSpecification"] == {
        "AttributeName": "expiration",
        "Enabled": True,
    }
    synth.template.has_resource(
        "AWS::DynamoDB::Table",
        {"DeletionPolicy": "Retain", "Properties": Match.object_like({"TableName": f"{experiment}-models"})},
    )
