"""Bad settings stop the synth naming the setting; `make synth`'s CLI command works offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from app import build_app, settings_from_context
from infra.settings import REPO_ROOT, SettingsError
from infra.stack import DEFAULT_CONTAINER_DIR, DEFAULT_STATEMACHINE_PATH

CDK = REPO_ROOT / "node_modules" / ".bin" / "cdk"
# The command of the Makefile's `synth` target (run directly: `make synth` would first run `make install`).
SYNTH = ["npx", "--no-install", "cdk", "synth", "--quiet", "--no-notices", "--no-version-reporting"]


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"retrain_threshold": 0}, "bandit.retrain_threshold"),
        ({"experiment_id": "bad_id!"}, "bandit.experiment_id"),
        ({"log_retention_days": 10}, "bandit.log_retention_days"),
        ({"exploration": {"algorithm": "ucb"}}, "bandit.exploration.algorithm"),
        ({"poll_second": 5}, "bandit.poll_second"),
    ],
)
def test_bad_settings_fail_the_app_naming_the_setting(overrides, setting, tmp_path):
    context = {"bandit": {**json.loads((REPO_ROOT / "cdk.json").read_text())["context"]["bandit"], **overrides}}
    with pytest.raises(SettingsError, match=f"'{setting}'"):
        build_app(context, outdir=str(tmp_path), nag=False)


def test_command_line_json_is_merged_over_cdk_json():
    settings = settings_from_context('{"retrain_threshold": 123}')
    assert settings.retrain_threshold == 123
    assert (
        settings.experiment_id == json.loads((REPO_ROOT / "cdk.json").read_text())["context"]["bandit"]["experiment_id"]
    )
    with pytest.raises(SettingsError, match="bandit"):
        settings_from_context("[1, 2]")


def _cli_env() -> dict[str, str]:
    """No credentials and no instance metadata: the synth must not need AWS at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION="1",
        AWS_EC2_METADATA_DISABLED="true",
        PATH=f"{REPO_ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


needs_cli = pytest.mark.skipif(
    not CDK.exists() or shutil.which("npx") is None, reason="pinned CDK CLI not installed (make install)"
)


@needs_cli
def test_cli_synth_rejects_a_bad_setting(tmp_path):
    result = subprocess.run(
        [*SYNTH, "-o", str(tmp_path / "out"), "-c", 'bandit={"canary_percent": 0}'],
        cwd=REPO_ROOT,
        env=_cli_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode != 0
    assert "bandit.canary_percent" in result.stderr


@needs_cli
@pytest.mark.skipif(
    not DEFAULT_STATEMACHINE_PATH.is_file() or not (DEFAULT_CONTAINER_DIR / "Dockerfile").is_file(),
    reason="statemachine/retrain.asl.json or container/Dockerfile not in the tree yet",
)
def test_make_synth_command_works_offline(tmp_path):
    out = tmp_path / "out"
    result = subprocess.run(
        [*SYNTH, "-o", str(out)],
        cwd=REPO_ROOT,
        env=_cli_env(),
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    template = json.loads((out / "BanditPipeline.template.json").read_text())
    assert any(r["Type"] == "AWS::StepFunctions::StateMachine" for r in template["Resources"].values())
    assert Path(out / "BanditPipeline.assets.json").is_file()
