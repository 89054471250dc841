"""Athena's implied checks (local/iam/athena.py): the join's real queries, as the join role of the real template."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pipeline_common import join_sql
from pipeline_common.window import Window

from local.iam import athena
from local.iam.authorizer import Authorizer
from local.iam.catalog import from_raw_template

ACCOUNT, REGION = "123456789012", "us-east-1"
DATABASE, WORKGROUP = "bandit_demo_lake", "bandit-demo-pipeline"


@pytest.fixture(scope="module")
def setup(real_template: Path) -> tuple[Authorizer, str, str]:
    raw = json.loads(real_template.read_text())
    authorizer = Authorizer()
    authorizer.load(from_raw_template(raw, "BanditPipeline", ACCOUNT, REGION))
    role_id = next(k for k, v in raw["Resources"].items() if v["Type"] == "AWS::IAM::Role" and "JoinRole" in k)
    bucket = "banditpipeline-" + next(k for k in raw["Resources"] if k.startswith("DataLakeBucket")).lower()
    return authorizer, f"arn:aws:iam::{ACCOUNT}:role/BanditPipeline-{role_id}", bucket


def _spec(bucket: str) -> join_sql.JoinSpec:
    window = Window(datetime(2026, 11, 23, 1, tzinfo=UTC), datetime(2026, 11, 23, 2, tzinfo=UTC))
    return join_sql.JoinSpec(
        database=DATABASE,
        decisions_table="decisions",
        rewards_table="rewards",
        window=window,
        reward_wait_seconds=300,
        missing_reward="default",
        default_reward=0.0,
        output_prefix=f"s3://{bucket}/joined/run-1/",
        quarantine_prefix=f"s3://{bucket}/quarantine/run-1/",
    )


def _checks(sql: str, bucket: str, locations: dict[tuple[str, str], str] | None = None) -> list[Any]:
    tables = locations or {
        (DATABASE, "decisions"): f"s3://{bucket}/decisions/",
        (DATABASE, "rewards"): f"s3://{bucket}/rewards/",
    }
    output = f"s3://{bucket}/athena-results/"
    return athena.implied_checks(sql, DATABASE, WORKGROUP, output, tables, REGION, ACCOUNT)


def test_the_queries_read_both_tables_and_write_the_unload_prefix(setup: tuple[Authorizer, str, str]) -> None:
    _, _, bucket = setup
    unload = join_sql.unload(_spec(bucket))
    assert athena.tables(unload, DATABASE) == [(DATABASE, "decisions"), (DATABASE, "rewards")]
    puts = [c.resource for c in _checks(unload, bucket) if c.action == "s3:PutObject"]
    assert puts == [f"arn:aws:s3:::{bucket}/athena-results/", f"arn:aws:s3:::{bucket}/joined/run-1/"]
    quarantine = [c.resource for c in _checks(join_sql.quarantine_unload(_spec(bucket)), bucket)]
    assert f"arn:aws:s3:::{bucket}/quarantine/run-1/" in quarantine


def test_the_join_role_may_write_the_quarantine_and_nothing_beside_it(setup: tuple[Authorizer, str, str]) -> None:
    authorizer, role, bucket = setup
    checks = _checks(join_sql.quarantine_unload(_spec(bucket)), bucket)
    assert all(authorizer.allows(role, "bandit-demo-join", check) for check in checks)
    elsewhere = join_sql.JoinSpec(**{**_spec(bucket).__dict__, "quarantine_prefix": f"s3://{bucket}/models/run-1/"})
    denied = [c for c in _checks(join_sql.quarantine_unload(elsewhere), bucket) if not authorizer.allows(role, "j", c)]
    assert [(c.action, c.resource) for c in denied] == [("s3:PutObject", f"arn:aws:s3:::{bucket}/models/run-1/")]


def test_the_join_role_may_run_its_queries(setup: tuple[Authorizer, str, str]) -> None:
    authorizer, role, bucket = setup
    spec = _spec(bucket)
    for sql in (join_sql.unload(spec), join_sql.counts_select(spec), join_sql.quarantine_unload(spec)):
        for check in _checks(sql, bucket):
            assert authorizer.allows(role, "bandit-demo-join", check), check


def test_a_table_outside_the_granted_prefixes_is_denied(setup: tuple[Authorizer, str, str]) -> None:
    authorizer, role, bucket = setup
    elsewhere = {(DATABASE, "decisions"): f"s3://{bucket}/models/", (DATABASE, "rewards"): f"s3://{bucket}/rewards/"}
    denied = [
        c for c in _checks(join_sql.unload(_spec(bucket)), bucket, elsewhere) if not authorizer.allows(role, "j", c)
    ]
    assert [(c.action, c.resource) for c in denied] == [
        ("s3:ListBucket", f"arn:aws:s3:::{bucket}"),
        ("s3:GetObject", f"arn:aws:s3:::{bucket}/models/"),
    ]
