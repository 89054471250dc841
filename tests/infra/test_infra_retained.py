"""Retained resources: which ones outlive `cdk destroy` under a fixed name, and the `cdk import` mapping for them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra import retained
from infra.metadata import TABLE_KEYS
from infra.names import ResourceNames

KEPT_TABLES = ("experiments", "models", "joins")
"""The pipeline's memory: experiment record (watermark, serving model), model registry, join records."""


def test_every_retained_resource_with_a_fixed_name_is_a_kept_table_in_the_import_mapping(synth) -> None:
    names = ResourceNames.of(synth.settings)
    # fixed_name raises for a retained type whose import identifier is unknown (e.g. a retained log stream)
    fixed = {lid: retained.fixed_name(r) for lid, r in retained.retained(synth.raw).items()}
    named = {lid: name for lid, name in fixed.items() if name is not None}
    assert sorted(named.values()) == sorted(names.table(key) for key in KEPT_TABLES)
    mapping = retained.import_mapping(synth.raw)
    assert mapping == {lid: {"TableName": name} for lid, name in named.items()}


def test_scratch_state_and_log_streams_are_deleted_with_the_stack(synth) -> None:
    names = ResourceNames.of(synth.settings)
    tables = {r["Properties"]["TableName"]: r for r in synth.of_type("AWS::DynamoDB::Table").values()}
    assert set(tables) == {names.table(key) for key in TABLE_KEYS}
    for key in set(TABLE_KEYS) - set(KEPT_TABLES):
        assert tables[names.table(key)]["DeletionPolicy"] == "Delete", key
    for lid, stream in synth.of_type("AWS::Logs::LogStream").items():
        assert stream.get("DeletionPolicy") == "Delete", lid


def test_retained_buckets_have_generated_names_so_a_new_stack_never_collides(synth) -> None:
    buckets = synth.of_type("AWS::S3::Bucket")
    assert buckets
    for lid, bucket in buckets.items():
        assert bucket["DeletionPolicy"] == "Retain", lid
        assert retained.fixed_name(bucket) is None, lid


def test_an_unknown_retained_type_is_named_in_the_error() -> None:
    template = {"Resources": {"Odd": {"Type": "AWS::Made::Up", "DeletionPolicy": "Retain", "Properties": {}}}}
    with pytest.raises(retained.RetainedResourceError, match="AWS::Made::Up"):
        retained.import_mapping(template)


def test_the_cli_prints_the_resource_mapping(template_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert retained.main([str(template_file)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert sorted(v["TableName"] for v in printed.values()) == sorted(f"bandit-demo-{k}" for k in KEPT_TABLES)
