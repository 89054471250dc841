"""Shared test setup: the Lambda asset root is importable as it is inside Lambda (`import trigger`)."""

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
for path in (REPO_ROOT, REPO_ROOT / "lambdas"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

# Never let a test reach a real AWS account.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "BanditPipeline")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "bandit-pipeline")
