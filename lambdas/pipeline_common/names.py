"""Deterministic names: run ids (execution names) and SageMaker resource names derived from them."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

SAGEMAKER_NAME_MAX = 63
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9-]+")


def run_id_for(experiment_id: str, window_end: datetime) -> str:
    """The execution name of the run whose window ends at `window_end`: the same window never runs twice."""
    return f"{experiment_id}-{window_end.astimezone(UTC):%Y%m%dT%H%M%S}"


def sagemaker_name(run_id: str, suffix: str = "", experiment_id: str = "") -> str:
    """A SageMaker name (`[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`) for `run_id` + `suffix`, hashed when too long.

    Execution names may hold `_` and be 80 characters long; SageMaker job, model and config names may not. The name
    starts with `<experiment_id>-` (added when a manual execution name lacks it): the functions' IAM policies allow
    SageMaker resources by that prefix only.
    """
    base = _NOT_ALLOWED.sub("-", run_id).strip("-") or "run"
    prefix = f"{experiment_id}-" if experiment_id else ""
    if not base.lower().startswith(prefix.lower()):
        base = f"{prefix}{base}"
    name = f"{base}{suffix}"
    if len(name) <= SAGEMAKER_NAME_MAX:
        return name
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:8]
    keep = SAGEMAKER_NAME_MAX - len(suffix) - len(digest) - 1
    return f"{base[:keep].rstrip('-')}-{digest}{suffix}"
