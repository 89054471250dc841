"""The local runtime runs what AWS would: a function's code is its staged asset (the handlers with `contract/`),
a SageMaker job or endpoint runs the image's `/opt/program` (the staged build context: `container/`, `contract/`),
never the repository's tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from local.engines.sagemaker import SageMakerEngine
from local.engines.sagemaker.common import REPO_ROOT
from local.engines.sagemaker.processes import instance_environment
from local.gateway import Gateway
from local.provision import ProvisionError, image_assets, provision, register_images


def _image_uri(template: Path) -> str:
    """The image URI the template hands the Lambdas (`TRAINING_IMAGE_URI`), its pseudo parameters filled in."""
    raw = json.loads(template.read_text())
    function = next(r for r in raw["Resources"].values() if r["Type"] == "AWS::Lambda::Function")
    uri = function["Properties"]["Environment"]["Variables"]["TRAINING_IMAGE_URI"]["Fn::Sub"]
    return (
        uri.replace("${AWS::AccountId}", "123456789012")
        .replace("${AWS::Region}", "us-east-1")
        .replace("${AWS::URLSuffix}", "amazonaws.com")
    )


def test_the_images_build_context_is_what_the_engine_runs(real_template: Path, tmp_path: Path) -> None:
    ((_, program),) = image_assets(real_template).items()
    assert {p.name for p in program.iterdir()} == {"container", "contract"}
    engine = SageMakerEngine(state_dir=tmp_path / "sm", endpoint_url="http://127.0.0.1:9")
    register_images(engine, real_template)  # what provisioning does
    uri = _image_uri(real_template)
    assert engine.images.program_dir(uri) == program
    tag = uri.rsplit(":", 1)[-1]
    # no image of that tag: the bare engine's tree
    assert engine.images.program_dir(uri.replace(tag, "other")) == REPO_ROOT
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(instance_environment("http://127.0.0.1:9", program))
    result = subprocess.run(
        [sys.executable, "-c", "import contract, container.training.train as t; print(contract.__file__, t.__file__)"],
        cwd=program,  # the engine's cwd for jobs and endpoints: the image's WORKDIR
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert all(path.startswith(str(program)) for path in result.stdout.split())


def test_a_function_without_a_staged_asset_is_not_provisioned(gateway: Gateway, tmp_path: Path) -> None:
    """Without the staged asset the function would run `lambdas/` without the contract: refused, named."""
    raw = {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "lambda.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    }
                },
            },
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": "no-asset",
                    "Handler": "join.handler",
                    "Runtime": "python3.12",
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Code": {"S3Bucket": "b", "S3Key": "k.zip"},
                },
            },
        }
    }
    path = tmp_path / "NoAsset.template.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ProvisionError, match="code asset is not staged"):
        provision(gateway, path, stack_name="no-asset")
