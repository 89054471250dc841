"""The deployables carry the contract: the synthesized Lambda asset and the image's build context hold `contract/`,
and what runs there imports it from there, not from the repository."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra.assets import AssetError, stage_lambda_code, stage_tree
from infra.settings import REPO_ROOT

CONTRACT = REPO_ROOT / "contract"


def _manifest(synth) -> dict:
    return json.loads((synth.outdir / f"{synth.stack.artifact_id}.assets.json").read_text())


def _lambda_assets(synth) -> set[Path]:
    """The staged directories of the functions' code (`Code.S3Key` is `<asset hash>.zip`)."""
    files = _manifest(synth)["files"]
    keys = {r["Properties"]["Code"]["S3Key"] for r in synth.of_type("AWS::Lambda::Function").values()}
    return {synth.outdir / files[key.removesuffix(".zip")]["source"]["path"] for key in keys}


def _same_files(staged: Path, source: Path) -> None:
    names = {p.relative_to(source) for p in source.rglob("*.py")}
    assert names and names == {p.relative_to(staged) for p in staged.rglob("*.py")}
    for name in names:
        assert (staged / name).read_bytes() == (source / name).read_bytes(), name


def test_every_function_ships_the_handlers_with_the_contract_beside_them(synth) -> None:
    (asset,) = _lambda_assets(synth)  # one asset, all seven functions
    assert (asset / "join.py").is_file() and (asset / "pipeline_common" / "config.py").is_file()
    _same_files(asset / "contract", CONTRACT)
    assert not list(asset.rglob("__pycache__"))


def test_a_handler_imports_the_contract_from_the_asset_alone(synth) -> None:
    """As `local/lambda_worker.py` runs it (and Lambda's /var/task): the asset first on sys.path, no repository."""
    (asset,) = _lambda_assets(synth)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import join, trigger, contract, pipeline_common.config as c; "
        "assert contract.__file__.startswith(sys.argv[1]), contract.__file__; "
        "assert c.parse_run_settings(sys.argv[2]).experiment_id"
    )
    settings = synth.settings.to_json()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-I", "-c", code, str(asset), settings],
        cwd=asset,
        env={**env, "AWS_DEFAULT_REGION": "us-east-1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def _image_source(synth) -> tuple[Path, str]:
    (image,) = _manifest(synth)["dockerImages"].values()
    return synth.outdir / image["source"]["directory"], image["source"]["dockerFile"]


def test_the_image_is_staged_from_container_and_contract_not_built(synth) -> None:
    """DockerImageAsset only copies the build context into the assembly at synth; the CLI builds it at deploy."""
    context, dockerfile = _image_source(synth)
    assert dockerfile == "container/Dockerfile"
    assert (context / dockerfile).is_file()
    assert {p.name for p in context.iterdir()} == {"container", "contract"}
    _same_files(context / "contract", CONTRACT)


def _copies(dockerfile: str) -> list[tuple[str, str]]:
    return re.findall(r"^COPY (\S+) (\S+)$", dockerfile, flags=re.MULTILINE)


def test_the_dockerfile_copies_the_contract_and_its_import_check_imports_it(synth, tmp_path: Path) -> None:
    """Docker cannot run here: the Dockerfile's COPY lines are applied to the staged context by hand, and its import
    check runs as `RUN` would, in WORKDIR /opt/program with the image's PYTHONPATH and nothing else."""
    context, name = _image_source(synth)
    dockerfile = (context / name).read_text()
    assert ("contract", "/opt/program/contract") in _copies(dockerfile)
    assert "PYTHONPATH=/opt/program" in dockerfile and "WORKDIR /opt/program" in dockerfile
    (check,) = re.findall(r'python -c "([^"]+)"', dockerfile)
    assert re.search(r"\bimport contract\.", check)
    root = tmp_path / "image"
    for source, target in _copies(dockerfile):
        destination = root / target.lstrip("/")
        destination.parent.mkdir(parents=True, exist_ok=True)
        copy = shutil.copytree if (context / source).is_dir() else shutil.copy
        copy(context / source, destination)
    program = root / "opt" / "program"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", check + "; import contract; print(contract.__file__)"],
        cwd=program,
        env={**env, "PYTHONPATH": str(program)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(program / "contract"))


def test_the_root_dockerignore_lets_in_only_the_two_packages() -> None:
    lines = [line for line in (REPO_ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert lines[0] == "*"
    assert {line[1:] for line in lines if line.startswith("!")} == {"container", "contract"}


def test_staging_refuses_a_package_the_handlers_already_have(tmp_path: Path) -> None:
    lambdas = tmp_path / "lambdas"
    (lambdas / "contract").mkdir(parents=True)
    with pytest.raises(AssetError, match="own contract"):
        stage_lambda_code(lambdas, CONTRACT, tmp_path / "out")
    with pytest.raises(AssetError, match="not a directory"):
        stage_tree(tmp_path / "out", packages={"contract": tmp_path / "missing"})
