"""Model artifacts: a model directory (`vw.model` + `metadata.json`) or the `model.tar.gz` SageMaker makes of it."""

from __future__ import annotations

import json
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from container.core.errors import ContainerError

MODEL_FILE = "vw.model"
METADATA_FILE = "metadata.json"
ARCHIVE_FILE = "model.tar.gz"


class ArtifactError(ContainerError, ValueError):
    """A model channel or directory holds something that is not a readable model."""


def _extract(archive: Path) -> Path:
    target = Path(tempfile.mkdtemp(prefix="model-"))
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(target, filter="data")
    except (tarfile.TarError, OSError) as error:
        raise ArtifactError(f"{archive} is not a readable tar.gz archive: {error}") from None
    return target


def _find(root: Path, name: str) -> Path | None:
    direct = root / name
    if direct.is_file():
        return direct
    return next(iter(sorted(root.rglob(name))), None)


def resolve_model_dir(path: Path) -> Path | None:
    """The directory holding `metadata.json` (and `vw.model`): extracted from an archive when needed.

    None when `path` holds no model at all (a first deployment or an empty channel)."""
    if not path.exists():
        return None
    if path.is_file():
        return resolve_model_dir(_extract(path)) if path.name.endswith((".tar.gz", ".tgz", ".tar")) else None
    metadata = _find(path, METADATA_FILE)
    if metadata is not None:
        return metadata.parent
    model = _find(path, MODEL_FILE)
    if model is not None:
        return model.parent
    archive = _find(path, ARCHIVE_FILE)
    return resolve_model_dir(_extract(archive)) if archive is not None else None


def read_metadata(model_dir: Path) -> dict[str, Any]:
    """The model's metadata (empty when a bare `vw.model` came without it)."""
    path = model_dir / METADATA_FILE
    if not path.exists():
        return {}
    try:
        metadata = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ArtifactError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(metadata, dict):
        raise ArtifactError(f"{path} must hold a JSON object")
    return metadata
