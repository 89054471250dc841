"""`python -m container <command>` and the image's executables, as SageMaker invokes them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from container_helpers import logged_rows, make_layout

from container.__main__ import main

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_unknown_or_missing_command_prints_usage() -> None:
    assert main([]) == 2
    assert main(["predict"]) == 2


def test_train_does_not_import_the_server_or_the_evaluator() -> None:
    code = (
        "import sys, container.__main__ as m; m._command('train');"
        "assert not {'container.serving.serve', 'container.serving.server', 'httptools',"
        " 'container.evaluation.job'} & set(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)


def test_train_executable_runs_a_job(tmp_path: Path) -> None:
    root = make_layout(tmp_path, logged_rows(40), {"model_id": "cli"})
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "SM_ML_ROOT": str(root), "PYTHONPATH": str(REPO_ROOT), "PATH": path}
    result = subprocess.run(
        [str(REPO_ROOT / "container" / "bin" / "train")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "[train] wrote" in result.stdout
    assert json.loads((root / "model" / "metadata.json").read_text())["model_id"] == "cli"


def test_dockerfile_puts_the_package_where_the_executables_expect_it() -> None:
    dockerfile = (REPO_ROOT / "container" / "Dockerfile").read_text()
    assert "COPY container /opt/program/container" in dockerfile and "PYTHONPATH=/opt/program" in dockerfile
    assert "COPY contract /opt/program/contract" in dockerfile
    assert "/opt/program/container/bin" in dockerfile
    for command in ("train", "serve", "evaluate"):
        script = REPO_ROOT / "container" / "bin" / command
        assert os.access(script, os.X_OK) and f"python -m container {command}" in script.read_text()


def test_a_command_whose_module_is_missing_says_so(monkeypatch) -> None:
    import pytest

    import container.__main__ as entry

    monkeypatch.setitem(entry.COMMANDS, "evaluate", "container.not_here.job")
    with pytest.raises(SystemExit, match="not available in this image"):
        entry.main(["evaluate"])
