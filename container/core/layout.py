"""SageMaker's container file layout under `SM_ML_ROOT` (default `/opt/ml`), so tests can point it anywhere."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from container.core.errors import ContainerError
from contract.environment import SM_ML_ROOT


class HyperparametersError(ContainerError, ValueError):
    """`hyperparameters.json` exists but cannot be read as a JSON object."""


@dataclass(frozen=True)
class Layout:
    """Paths of one job: config, input channels, model output and the failure file."""

    root: Path

    @classmethod
    def from_env(cls) -> Layout:
        return cls(Path(os.environ.get(SM_ML_ROOT, "/opt/ml")))

    @property
    def hyperparameters_file(self) -> Path:
        return self.root / "input" / "config" / "hyperparameters.json"

    def channel(self, name: str) -> Path:
        return self.root / "input" / "data" / name

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def failure_file(self) -> Path:
        return self.output_dir / "failure"

    def hyperparameters(self) -> dict[str, str]:
        """SageMaker's hyperparameters (all strings); none when the file is absent."""
        if not self.hyperparameters_file.exists():
            return {}
        try:
            raw = json.loads(self.hyperparameters_file.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise HyperparametersError(f"{self.hyperparameters_file} is not valid JSON: {error}") from None
        if not isinstance(raw, dict):
            raise HyperparametersError(f"{self.hyperparameters_file} must hold a JSON object")
        return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}

    def write_failure(self, message: str) -> None:
        """SageMaker shows the first 1024 characters of this file as the job's FailureReason."""
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.failure_file.write_text(message)


def run_job(
    tag: str,
    job: str,
    run: Callable[[Layout], Any],
    expected: tuple[type[Exception], ...],
    describe: Callable[[Exception], str] = str,
) -> int:
    """A job's entry point: run it on the environment's layout; on any error write `output/failure` and return 1.

    `expected` errors are described by `describe` (their message by default); anything else still leaves SageMaker
    a reason a person can act on ("<job> failed unexpectedly: <type>: <message>")."""
    layout = Layout.from_env()
    try:
        run(layout)
    except expected as error:
        message = describe(error)
    except Exception as error:
        message = f"{job} failed unexpectedly: {type(error).__name__}: {error}"
    else:
        return 0
    layout.write_failure(message)
    print(f"[{tag}] FAILED: {message}", file=sys.stderr, flush=True)
    return 1
