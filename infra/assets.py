"""What goes into the deployables' code: the Lambda asset and the policy image both carry the `contract` package.

Both are staged at synth into a directory of the cloud assembly, and CDK makes its asset from that directory:
- the Lambda asset is `lambdas/`'s files with `contract/` beside them, so a handler imports `contract` from
  `/var/task` as it imports `pipeline_common`;
- the image's build context is `container/` and `contract/` side by side, built with `container/Dockerfile`, which
  copies both under `/opt/program` (the same context as `docker build -f container/Dockerfile .` at the repository
  root, where `.dockerignore` lets only those two directories in).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from aws_cdk import Stage
from constructs import Construct

CONTRACT_PACKAGE = "contract"
IMAGE_DOCKERFILE = "container/Dockerfile"
"""The Dockerfile, relative to the image's build context."""
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache")


STAGING_DIR = "staging"
"""Under the cloud assembly: where the staged sources are assembled before CDK copies them into `asset.<hash>`."""


def staging_dir(scope: Construct, name: str) -> Path:
    """A directory of the cloud assembly for one staged source, named after the construct (unique per stack)."""
    outdir = Path(Stage.of(scope).asset_outdir)  # type: ignore[union-attr]
    return outdir / STAGING_DIR / f"{scope.node.path.replace('/', '-')}-{name}"


class AssetError(ValueError):
    """An asset cannot be staged as laid out (a missing directory, or a name two parts both use)."""


def stage_tree(target: Path, *, packages: Mapping[str, Path], root: Path | None = None) -> Path:
    """`target` (replaced) holding `root`'s files, if given, and each of `packages` as a subdirectory; returns it."""
    for source in [*packages.values(), *([root] if root else [])]:
        if not source.is_dir():
            raise AssetError(f"cannot stage an asset from {source}: not a directory")
    for name in packages:
        if root is not None and (root / name).exists():
            raise AssetError(f"{root} has its own {name}: the staged copy would hide one of them")
    if target.exists():
        shutil.rmtree(target)
    if root is not None:
        shutil.copytree(root, target, ignore=_IGNORE)
    target.mkdir(parents=True, exist_ok=True)
    for name, source in packages.items():
        shutil.copytree(source, target / name, ignore=_IGNORE)
    return target


def stage_lambda_code(lambdas_dir: Path, contract_dir: Path, target: Path) -> Path:
    """The Lambda asset: the handlers and `pipeline_common` at the top, `contract/` beside them."""
    return stage_tree(target, root=lambdas_dir, packages={CONTRACT_PACKAGE: contract_dir})


def stage_image_context(container_dir: Path, contract_dir: Path, target: Path) -> Path:
    """The image's build context: `container/` (with its Dockerfile) and `contract/`."""
    return stage_tree(target, packages={"container": container_dir, CONTRACT_PACKAGE: contract_dir})
