"""Environment variable names: what the stack sets for the Lambdas, and what the policy container reads.

The stack (infra/pipeline.py) sets `LAMBDA` on every function; the deploy step sets `MODEL` on the endpoint's Model;
SageMaker itself sets `SAGEMAKER` for the container. `tests/contract/` checks that every name a handler or the
container reads is listed here and that the stack sets exactly `LAMBDA`.
"""

from __future__ import annotations

# Set by the stack on every Lambda function (docs/contracts.md, "The stack's resources and the Lambda environment").
SETTINGS_JSON = "SETTINGS_JSON"
"""All settings as JSON (`Settings.to_json()`)."""
DELIVERY_LAG_SECONDS = "DELIVERY_LAG_SECONDS"
"""How long after it was sent a record may land in S3 (the streams' buffer interval plus a margin)."""
BUCKET_NAME = "BUCKET_NAME"
GLUE_DATABASE = "GLUE_DATABASE"
GLUE_DECISIONS_TABLE = "GLUE_DECISIONS_TABLE"
GLUE_REWARDS_TABLE = "GLUE_REWARDS_TABLE"
ATHENA_WORKGROUP = "ATHENA_WORKGROUP"
EXPERIMENTS_TABLE = "EXPERIMENTS_TABLE"
MODELS_TABLE = "MODELS_TABLE"
JOINS_TABLE = "JOINS_TABLE"
STATE_TABLE = "STATE_TABLE"
IDEMPOTENCY_TABLE = "IDEMPOTENCY_TABLE"
STATE_MACHINE_ARN = "STATE_MACHINE_ARN"
TRAINING_IMAGE_URI = "TRAINING_IMAGE_URI"
TRAINING_ROLE_ARN = "TRAINING_ROLE_ARN"
"""The training jobs' execution role (writes `models/`)."""
EVALUATION_ROLE_ARN = "EVALUATION_ROLE_ARN"
"""The evaluation jobs' execution role (writes `evaluations/`)."""
ENDPOINT_ROLE_ARN = "ENDPOINT_ROLE_ARN"
"""The endpoint Model's execution role (reads `models/`, logs decisions, reads the rollback alarms)."""
ENDPOINT_NAME = "ENDPOINT_NAME"
ROLLBACK_ALARMS = "ROLLBACK_ALARMS"
"""Comma-separated names of the blue/green auto-rollback alarms."""
DECISIONS_STREAM = "DECISIONS_STREAM"
"""The decisions Firehose stream: set on the Lambdas, passed on to the endpoint's Model."""
POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
POWERTOOLS_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
POWERTOOLS_LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"

LAMBDA: tuple[str, ...] = (
    SETTINGS_JSON,
    BUCKET_NAME,
    GLUE_DATABASE,
    GLUE_DECISIONS_TABLE,
    GLUE_REWARDS_TABLE,
    ATHENA_WORKGROUP,
    EXPERIMENTS_TABLE,
    MODELS_TABLE,
    JOINS_TABLE,
    STATE_TABLE,
    IDEMPOTENCY_TABLE,
    STATE_MACHINE_ARN,
    TRAINING_IMAGE_URI,
    TRAINING_ROLE_ARN,
    EVALUATION_ROLE_ARN,
    ENDPOINT_ROLE_ARN,
    ENDPOINT_NAME,
    ROLLBACK_ALARMS,
    DECISIONS_STREAM,
    DELIVERY_LAG_SECONDS,
    POWERTOOLS_SERVICE_NAME,
    POWERTOOLS_METRICS_NAMESPACE,
    POWERTOOLS_LOG_LEVEL,
)
"""Every name the stack sets on a Lambda function (each function gets all of them)."""

# Set by the deploy step on the endpoint's Model (its container environment), read by `serve`.
EXPERIMENT_ID = "EXPERIMENT_ID"
MODEL_ID = "MODEL_ID"
"""The registry id of the model a variant serves (overrides its metadata; reconcile reads it back)."""
AWS_DEFAULT_REGION = "AWS_DEFAULT_REGION"
AWS_REGION = "AWS_REGION"
"""SageMaker gives a container no region: the Model names it, or botocore cannot build the Firehose client."""
DECISIONS_ACKNOWLEDGEMENT = "DECISIONS_ACKNOWLEDGEMENT"
"""`spool` or `firehose`: the `decision_acknowledgement` setting (`contract.bounds.DECISION_ACKNOWLEDGEMENTS`)."""
MODEL_REGION: tuple[str, ...] = (AWS_DEFAULT_REGION, AWS_REGION)
MODEL: tuple[str, ...] = (DECISIONS_STREAM, EXPERIMENT_ID, MODEL_ID, DECISIONS_ACKNOWLEDGEMENT, *MODEL_REGION)
# Set by the deploy step only on a challenger's Model (a rejected candidate mixed into the serving model).
CHALLENGER_SHARE = "CHALLENGER_SHARE"
"""The share of each decision the candidate serves, the `challenger_share` setting (docs/evaluation.md)."""
CHALLENGER_MODEL_ID = "CHALLENGER_MODEL_ID"
"""The candidate's registry id, for reconcile to read back (`serve` takes the id from the artifact)."""
CHALLENGER: tuple[str, ...] = (CHALLENGER_SHARE, CHALLENGER_MODEL_ID)
MODEL_READ_BACK: tuple[str, ...] = (MODEL_ID, CHALLENGER_MODEL_ID)
"""Names reconcile reads from a Model's environment (DescribeModel), not from its own."""

# Read by the container when set (a local or hand-run `serve`); the pipeline leaves them to their defaults.
DECISIONS_LOG_PATH = "DECISIONS_LOG_PATH"
"""JSON-lines file of decisions when `DECISIONS_STREAM` is unset (default `SM_ML_ROOT/output/decisions.jsonl`)."""
ACTIONS = "ACTIONS"
"""Comma-separated fallback action ids of a policy without an action set."""
SERVE_WORKERS = "SERVE_WORKERS"
SERVE_SEED = "SERVE_SEED"
CONTAINER_OPTIONAL: tuple[str, ...] = (DECISIONS_LOG_PATH, ACTIONS, SERVE_WORKERS, SERVE_SEED)

# Set by SageMaker for the container.
SM_ML_ROOT = "SM_ML_ROOT"
"""Moves SageMaker's `/opt/ml` (tests and the local runtime point it at a job's directory)."""
SAGEMAKER_BIND_TO_PORT = "SAGEMAKER_BIND_TO_PORT"
"""The port `serve` listens on (8080 unless SageMaker sets it)."""
SAGEMAKER: tuple[str, ...] = (SM_ML_ROOT, SAGEMAKER_BIND_TO_PORT)

CONTAINER: tuple[str, ...] = (*MODEL, *CHALLENGER, *CONTAINER_OPTIONAL, *SAGEMAKER)
"""Every name the policy container reads."""
