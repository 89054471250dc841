"""`serve` with a Firehose decision log needs a region botocore can read: without one it refuses to start and says
which variable to set (SageMaker hosting does not reliably set `AWS_DEFAULT_REGION`; botocore ignores `AWS_REGION`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from container.serving.decision_log import MissingRegion, firehose_region
from container.serving.serve import check_environment

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_region(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """An environment in which botocore finds no region: neither the variable nor a profile's config file."""
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    return {"DECISIONS_STREAM": "bandit-demo-decisions"}


def test_no_region_names_the_variable(no_region: dict[str, str]) -> None:
    with pytest.raises(MissingRegion, match="set AWS_DEFAULT_REGION"):
        firehose_region(no_region)
    with pytest.raises(MissingRegion, match="botocore does not read AWS_REGION"):
        firehose_region({**no_region, "AWS_REGION": "eu-west-1"})
    assert firehose_region({**no_region, "AWS_DEFAULT_REGION": "eu-west-1"}) == "eu-west-1"


def test_only_a_firehose_log_needs_a_region(no_region: dict[str, str]) -> None:
    assert check_environment({"DECISIONS_LOG_PATH": "/tmp/decisions.jsonl"}) is None
    assert check_environment({**no_region, "AWS_DEFAULT_REGION": "us-east-1"}) is None
    problem = check_environment(no_region)
    assert problem is not None and "AWS_DEFAULT_REGION" in problem and "bandit-demo-decisions" in problem


def test_serve_without_a_region_exits_at_start_with_the_reason(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if k not in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE")}
    environ.update(
        {
            "DECISIONS_STREAM": "bandit-demo-decisions",
            "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "SM_ML_ROOT": str(tmp_path),
            "SAGEMAKER_BIND_TO_PORT": "0",
            "SERVE_WORKERS": "1",
            "PYTHONPATH": str(REPO_ROOT),
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "container", "serve"],
        cwd=REPO_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "FAILED to start" in done.stderr and "set AWS_DEFAULT_REGION" in done.stderr, done.stderr
