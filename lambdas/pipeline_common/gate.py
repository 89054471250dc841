"""Reading the evaluator's verdict (`evaluation.json`, docs/contracts.md); the gate itself lives in the evaluator."""

from __future__ import annotations

import io
import json
import math
import tarfile
from typing import Any

from pipeline_common.errors import EvaluationJobFailed

EVALUATION_FILE = "evaluation.json"


def read_evaluation(archive: bytes) -> dict[str, Any]:
    """`evaluation.json` from the job's `model.tar.gz` (at its root or in a folder)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
            for member in tar.getmembers():
                if member.isfile() and member.name.rsplit("/", 1)[-1] == EVALUATION_FILE:
                    handle = tar.extractfile(member)
                    if handle is not None:
                        return json.loads(handle.read())
    except (tarfile.TarError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise EvaluationJobFailed(f"cannot read {EVALUATION_FILE} from the evaluation output: {error}") from error
    raise EvaluationJobFailed(f"the evaluation output has no {EVALUATION_FILE}")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _interval(block: Any) -> dict[str, float | None]:
    block = block if isinstance(block, dict) else {}
    return {key: _number(block.get(key)) for key in ("value", "ci_low", "ci_high")}


def summarize(evaluation: dict[str, Any]) -> dict[str, Any]:
    """The verdict and the numbers behind it, small enough for the execution's history.

    `promote` must be a boolean written by the evaluator; anything else is an error, never a silent promotion.
    """
    promote = evaluation.get("promote")
    if not isinstance(promote, bool):
        raise EvaluationJobFailed(f"evaluation.json has no boolean 'promote' (got {promote!r})")
    estimator = str(evaluation.get("estimator", "dr"))
    policies = evaluation.get("policies") or {}
    candidate = policies.get("candidate") or {}
    serving = policies.get("serving") or {}
    return {
        "promote": promote,
        "reason": str(evaluation.get("reason", "")),
        "estimator": estimator,
        "margin": _number(evaluation.get("margin")),
        "rows": evaluation.get("rows"),
        "candidate": _interval(candidate.get(estimator)),
        "serving": {
            **_interval(serving.get(estimator)),
            "kind": serving.get("kind"),
            "model_id": serving.get("model_id"),
        },
        "difference": _interval((evaluation.get("difference") or {}).get(estimator)),
        "candidate_ess": _number(candidate.get("ess")),
        "logged_mean_reward": _number(evaluation.get("logged_mean_reward")),
    }
