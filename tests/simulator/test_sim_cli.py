"""`python -m simulator`: run, warmstart and plot, against AWS APIs named only by the standard environment."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from conftest import delivery_streams
from sim_fixtures import BUCKET, s3_lines
from sim_standins import forward_to, http_server, scripted

from local.gateway import Gateway
from simulator.cli import main
from simulator.scenarios import DEFAULT_SHUTTLE_PATH

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_quietly(out: Path, url: str, rewards: Path, *options: str) -> int:
    """`simulator run` against one invocations URL, rewards to a file, outputs under `out`, no progress lines."""
    return main(["run", *options, "--invoke-url", url, "--rewards-file", str(rewards), "--out", str(out), "--quiet"])


@pytest.fixture
def moto_server(local_firehose: Gateway, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The local Firehose and S3 (moto behind the gateway) as the CLI's endpoints: a bucket and an experiment's
    rewards/decisions streams. moto's backends are process-global, so names are unique per test."""
    url = local_firehose.url
    monkeypatch.setenv("AWS_ENDPOINT_URL_FIREHOSE", url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", url)
    experiment = f"sim-{uuid.uuid4().hex[:8]}"
    bucket = f"{BUCKET}-{experiment}"
    delivery_streams(local_firehose, bucket, {f"{experiment}-{kind}": f"{kind}/" for kind in ("rewards", "decisions")})
    assert local_firehose.firehose is not None
    yield {"url": url, "experiment": experiment, "bucket": bucket, "flush": local_firehose.firehose.flush_all}


def test_run_with_boto3_clients_against_gateway_and_moto(serve, moto_server, monkeypatch, tmp_path, capsys) -> None:
    seen: list[str] = []
    experiment, bucket = moto_server["experiment"], moto_server["bucket"]
    with http_server(forward_to(serve.invocations_url, f"{experiment}-policy", seen)) as gateway:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", gateway)
        code = main(
            [
                "run",
                "--scenario",
                "synthetic",
                "--interactions",
                "600",
                "--batch-size",
                "200",
                "--experiment-id",
                experiment,
                "--loss",
                "0.1",
                "--duplicates",
                "0.1",
                "--delay",
                "20",
                "--out",
                str(tmp_path),
            ]
        )
    assert code == 0
    assert seen == [f"/endpoints/{experiment}-policy/invocations"] * 3
    summary = json.loads((tmp_path / "summary.json").read_text())
    moto_server["flush"]()
    delivered = s3_lines(boto3.client("s3"), bucket, "rewards/")
    assert len(delivered) == summary["rewards"]["sent"] > 0
    assert (tmp_path / "reward.png").stat().st_size > 10_000
    printed = capsys.readouterr()
    assert json.loads(printed.out)["interactions"] == 600
    assert "[simulator] 600/600 rounds" in printed.err

    assert main(["plot", str(tmp_path)]) == 0
    assert (tmp_path / "actions.png").exists()


def test_run_invoke_url_with_rewards_file(serve, tmp_path: Path) -> None:
    rewards = tmp_path / "rewards.jsonl"
    code = run_quietly(
        tmp_path,
        serve.invocations_url,
        rewards,
        *["--scenario", "reviews", "--interactions", "300", "--no-plots", "--seed", "5"],
    )
    assert code == 0
    assert len(rewards.read_text().splitlines()) == 300
    assert not (tmp_path / "reward.png").exists()


@pytest.mark.skipif(not (REPO_ROOT / DEFAULT_SHUTTLE_PATH).exists(), reason="Statlog Shuttle not on this machine")
def test_run_shuttle_reference_file(serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO_ROOT)
    code = run_quietly(
        tmp_path,
        serve.invocations_url,
        tmp_path / "r.jsonl",
        *["--scenario", "shuttle", "--interactions", "300", "--no-plots"],
    )
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["baselines"]["oracle"] == 1.0
    assert summary["baselines"]["best_constant_action"] == "1"
    assert summary["baselines"]["uniform"] == pytest.approx(1 / 7)


def test_warmstart_into_bucket_and_streams(moto_server, capsys) -> None:
    experiment, bucket = moto_server["experiment"], moto_server["bucket"]
    assert main(["warmstart", "--bucket", bucket, "--count", "100", "--age-seconds", "600"]) == 0
    keys = json.loads(capsys.readouterr().out)["keys"]
    assert keys[0].startswith("decisions/") and keys[1].startswith("rewards/")
    s3 = boto3.client("s3")
    assert len(s3_lines(s3, bucket, "decisions/")) == 100
    assert main(["warmstart", "--count", "50", "--scenario", "reviews", "--experiment-id", experiment]) == 0
    moto_server["flush"]()
    assert len(s3_lines(s3, bucket, "decisions/")) == 150
    assert len(s3_lines(s3, bucket, "rewards/")) == 150


def test_errors_are_reported_not_raised(tmp_path: Path, capsys) -> None:
    assert (
        main(
            [
                "run",
                "--scenario",
                "cbify",
                "--invoke-url",
                "http://127.0.0.1:9/invocations",
                "--rewards-file",
                str(tmp_path / "r"),
                "--out",
                str(tmp_path),
            ]
        )
        == 1
    )
    assert "needs --data" in capsys.readouterr().err
    code = run_quietly(tmp_path, "http://127.0.0.1:9/invocations", tmp_path / "r", "--interactions", "5")
    assert code == 1
    assert "decision request failed" in capsys.readouterr().err


def test_interrupted_run_still_writes_its_summary(tmp_path: Path, capsys) -> None:
    calls: list[bytes] = []
    answer = {"event_id": "e", "action": "grid", "action_index": 0, "action_prob": 0.25, "model_id": "m"}
    with http_server(
        scripted([(200, {"predictions": [answer] * 10}), (400, {"error": "gone", "field": "x"})], calls)
    ) as url:
        code = run_quietly(tmp_path, url, tmp_path / "r.jsonl", "--interactions", "50", "--batch-size", "10")
    assert code == 1
    assert "stopped after 10 of 50 rounds" in capsys.readouterr().err
    assert json.loads((tmp_path / "summary.json").read_text())["interactions"] == 10
    assert (tmp_path / "reward.png").exists()
