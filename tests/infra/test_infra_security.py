"""Encryption at rest beyond the buckets (tested in test_infra_data_lake.py), and no secrets in code or settings."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

SECRET_PATTERNS = {
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret access key": re.compile(r"(?i)aws_secret_access_key\s*[:=]\s*['\"]?[A-Za-z0-9/+=]{40}\b"),
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH )?PRIVATE KEY-----"),
}


def test_every_table_is_encrypted_and_recoverable(synth: Any) -> None:
    tables = synth.of_type("AWS::DynamoDB::Table")
    assert len(tables) == 5
    for logical_id, table in tables.items():
        props = table["Properties"]
        assert props["SSESpecification"]["SSEEnabled"] is True, logical_id
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, logical_id


def test_every_delivery_stream_encrypts_what_it_buffers(synth: Any) -> None:
    streams = synth.of_type("AWS::KinesisFirehose::DeliveryStream")
    assert len(streams) == 2
    for logical_id, stream in streams.items():
        encryption = stream["Properties"]["DeliveryStreamEncryptionConfigurationInput"]
        assert encryption["KeyType"] in ("AWS_OWNED_CMK", "CUSTOMER_MANAGED_CMK"), logical_id


def test_every_queue_is_encrypted_and_ssl_only(synth: Any) -> None:
    queues = synth.of_type("AWS::SQS::Queue")
    assert queues
    for logical_id, queue in queues.items():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") or props.get("KmsMasterKeyId"), logical_id
    denies = [
        statement
        for policy in synth.of_type("AWS::SQS::QueuePolicy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Deny" and statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(denies) == len(queues)


def test_no_secrets_in_tracked_files() -> None:
    """Code, settings and docs carry no credentials (the local runtime's are the literal `testing`)."""
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    assert "cdk.json" in files
    found = []
    for name in files:
        path = REPO / name
        if not path.is_file() or path.suffix in {".png", ".gz", ".zip"}:
            continue
        text = path.read_text(errors="ignore")
        found += [f"{name}: {kind}" for kind, pattern in SECRET_PATTERNS.items() if pattern.search(text)]
    assert found == []


def test_the_secret_patterns_catch_what_they_name() -> None:
    key_id = "AKIA" + "ABCDEFGHIJKLMNOP"
    secret = "aws_secret_access_key = " + "a" * 40
    assert SECRET_PATTERNS["AWS access key id"].search(key_id)
    assert SECRET_PATTERNS["AWS secret access key"].search(secret)
    assert SECRET_PATTERNS["private key"].search("-----BEGIN RSA " + "PRIVATE KEY-----")  # split: this file is scanned
