"""Reading the evaluator's verdict (`evaluation.json`, docs/contracts.md); the gate itself lives in the evaluator."""

from __future__ import annotations

import io
import json
import math
import tarfile
from typing import Any

from pipeline_common.errors import EvaluationJobFailed
from pipeline_common.steps import Interval, ServingEstimate, Verdict

EVALUATION_FILE = "evaluation.json"


def read_evaluation(archive: bytes) -> dict[str, Any]:
    """`evaluation.json` from the job's `model.tar.gz` (at its root or in a folder)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
            for member in tar.getmembers():
                if member.isfile() and member.name.rsplit("/", 1)[-1] == EVALUATION_FILE:
                    handle = tar.extractfile(member)
                    if handle is not None:
                        evaluation: dict[str, Any] = json.loads(handle.read())
                        return evaluation
    except (tarfile.TarError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise EvaluationJobFailed(f"cannot read {EVALUATION_FILE} from the evaluation output: {error}") from error
    raise EvaluationJobFailed(f"the evaluation output has no {EVALUATION_FILE}")


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _interval(block: object) -> Interval:
    numbers = _object(block)
    return Interval(_number(numbers.get("value")), _number(numbers.get("ci_low")), _number(numbers.get("ci_high")))


def summarize(evaluation: dict[str, Any]) -> Verdict:
    """The verdict and the numbers behind it, small enough for the execution's history.

    `promote` must be a boolean written by the evaluator; anything else is an error, never a silent promotion.
    """
    promote = evaluation.get("promote")
    if not isinstance(promote, bool):
        raise EvaluationJobFailed(f"evaluation.json has no boolean 'promote' (got {promote!r})")
    estimator = str(evaluation.get("estimator", "dr"))
    policies = _object(evaluation.get("policies"))
    candidate = _object(policies.get("candidate"))
    serving = _object(policies.get("serving"))
    rows = evaluation.get("rows")
    kind, model_id = serving.get("kind"), serving.get("model_id")
    return Verdict(
        promote=promote,
        reason=str(evaluation.get("reason", "")),
        estimator=estimator,
        margin=_number(evaluation.get("margin")),
        rows=rows if isinstance(rows, int) and not isinstance(rows, bool) else None,
        candidate=_interval(candidate.get(estimator)),
        serving=ServingEstimate(
            _interval(serving.get(estimator)),
            kind=str(kind) if kind is not None else None,
            model_id=str(model_id) if model_id is not None else None,
        ),
        difference=_interval(_object(evaluation.get("difference")).get(estimator)),
        candidate_ess=_number(candidate.get("ess")),
        logged_mean_reward=_number(evaluation.get("logged_mean_reward")),
    )
