"""Off-policy evaluation of a candidate policy against the serving one on the holdout (`python -m container evaluate`).

`METRIC_DEFINITIONS` are the job's metrics for SageMaker's `MetricDefinitions` (Name/Regex).
"""

from container.evaluation.report import METRIC_DEFINITIONS

__all__ = ["METRIC_DEFINITIONS"]
