"""DynamoDB access: the run counter and lock, the experiments row, the model registry, the joins table.

Keys and attributes are docs/contracts.md's. Numbers come back from DynamoDB as `Decimal`; callers get plain types.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from pipeline_common.aws import table
from pipeline_common.config import env


def counter_key(experiment_id: str) -> str:
    return f"{experiment_id}#counter"


def lock_key(experiment_id: str) -> str:
    return f"{experiment_id}#lock"


def _conditional_failed(error: ClientError) -> bool:
    return bool(error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def plain(value: Any) -> Any:
    """DynamoDB values as JSON-friendly Python (Decimal -> int or float)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def dynamo(value: Any) -> Any:
    """Python values as DynamoDB accepts them (float -> Decimal, None dropped from maps)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {key: dynamo(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [dynamo(item) for item in value]
    return value


def set_attributes(values: dict[str, Any]) -> dict[str, Any]:
    """UpdateItem's `SET` of `values` (None already dropped): the expression and its names and values."""
    return {
        "UpdateExpression": "SET " + ", ".join(f"#{key} = :{key}" for key in values),
        "ExpressionAttributeNames": {f"#{key}": key for key in values},
        "ExpressionAttributeValues": {f":{key}": dynamo(value) for key, value in values.items()},
    }


def _row(response: dict[str, Any]) -> dict[str, Any] | None:
    """GetItem's item as plain Python, None when there is none."""
    item = response.get("Item")
    return plain(item) if item else None


def _known(attributes: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in attributes.items() if value is not None}


# --- state table: counter and lock ---------------------------------------------------------------------------


def add_to_counter(experiment_id: str, amount: int) -> int:
    """Atomically add `amount` (may be negative) to the experiment's reward counter; returns the new count."""
    response = table(env("STATE_TABLE")).update_item(
        Key={"pk": counter_key(experiment_id)},
        UpdateExpression="ADD #count :amount",
        ExpressionAttributeNames={"#count": "count"},
        ExpressionAttributeValues={":amount": amount},
        ReturnValues="UPDATED_NEW",
    )
    return int(response["Attributes"]["count"])


def read_counter(experiment_id: str) -> int:
    """The current count (strongly consistent: the threshold decision must see every committed ADD)."""
    item = table(env("STATE_TABLE")).get_item(Key={"pk": counter_key(experiment_id)}, ConsistentRead=True)
    return int(item.get("Item", {}).get("count", 0))


@dataclass(frozen=True)
class Lock:
    """The run lock: which run holds it, since when, and the execution input it was taken for."""

    run_id: str
    since: str
    execution_input: str
    started: bool


def acquire_lock(experiment_id: str, run_id: str, since: str, execution_input: str) -> bool:
    """Take the lock unless any run holds it (conditional put); True when this call took it."""
    try:
        table(env("STATE_TABLE")).put_item(
            Item={
                "pk": lock_key(experiment_id),
                "run_id": run_id,
                "since": since,
                "execution_input": execution_input,
                "started": False,
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
    except ClientError as error:
        if _conditional_failed(error):
            return False
        raise
    return True


def read_lock(experiment_id: str) -> Lock | None:
    item = table(env("STATE_TABLE")).get_item(Key={"pk": lock_key(experiment_id)}, ConsistentRead=True).get("Item")
    if not item:
        return None
    return Lock(
        run_id=str(item["run_id"]),
        since=str(item.get("since", "")),
        execution_input=str(item.get("execution_input", "{}")),
        started=bool(item.get("started", False)),
    )


def mark_lock_started(experiment_id: str, run_id: str) -> None:
    """Note that the lock's execution was started, so later triggers stop re-issuing the (idempotent) start."""
    try:
        table(env("STATE_TABLE")).update_item(
            Key={"pk": lock_key(experiment_id)},
            UpdateExpression="SET started = :true",
            ConditionExpression="run_id = :run",
            ExpressionAttributeValues={":true": True, ":run": run_id},
        )
    except ClientError as error:
        if not _conditional_failed(error):
            raise


def set_lock_input(experiment_id: str, run_id: str, execution_input: str) -> None:
    """Replace the held lock's execution input (the count re-read under the lock) before the run starts."""
    table(env("STATE_TABLE")).update_item(
        Key={"pk": lock_key(experiment_id)},
        UpdateExpression="SET execution_input = :input",
        ConditionExpression="run_id = :run",
        ExpressionAttributeValues={":input": execution_input, ":run": run_id},
    )


def release_lock(experiment_id: str, run_id: str) -> bool:
    """Release the lock if this run holds it (a manual run never releases a triggered run's lock)."""
    try:
        table(env("STATE_TABLE")).delete_item(
            Key={"pk": lock_key(experiment_id)},
            ConditionExpression="run_id = :run",
            ExpressionAttributeValues={":run": run_id},
        )
    except ClientError as error:
        if _conditional_failed(error):
            return False
        raise
    return True


# --- experiments ---------------------------------------------------------------------------------------------


def read_experiment(experiment_id: str) -> dict[str, Any]:
    item = table(env("EXPERIMENTS_TABLE")).get_item(Key={"experiment_id": experiment_id}, ConsistentRead=True)
    experiment: dict[str, Any] = plain(item.get("Item", {}))
    return experiment


def update_experiment(experiment_id: str, **attributes: Any) -> None:
    """Set attributes of the experiment row (created on first write)."""
    values = _known(attributes)
    if values:
        table(env("EXPERIMENTS_TABLE")).update_item(Key={"experiment_id": experiment_id}, **set_attributes(values))


# --- models registry -----------------------------------------------------------------------------------------


def read_model(model_id: str) -> dict[str, Any] | None:
    return _row(table(env("MODELS_TABLE")).get_item(Key={"model_id": model_id}, ConsistentRead=True))


def put_model(row: dict[str, Any]) -> None:
    table(env("MODELS_TABLE")).put_item(Item=dynamo(row))


def update_model(model_id: str, **attributes: Any) -> None:
    """Set attributes of a registry row (`scores` dicts are stored as JSON text, as the contract says)."""
    values = {
        key: json.dumps(value, sort_keys=True) if key == "scores" and not isinstance(value, str) else value
        for key, value in _known(attributes).items()
    }
    if values:
        table(env("MODELS_TABLE")).update_item(Key={"model_id": model_id}, **set_attributes(values))


# --- joins ---------------------------------------------------------------------------------------------------


def read_join(run_id: str) -> dict[str, Any] | None:
    return _row(table(env("JOINS_TABLE")).get_item(Key={"run_id": run_id}, ConsistentRead=True))


def put_join(row: dict[str, Any]) -> None:
    table(env("JOINS_TABLE")).put_item(Item=dynamo(row))


def update_join(run_id: str, **attributes: Any) -> None:
    table(env("JOINS_TABLE")).update_item(Key={"run_id": run_id}, **set_attributes(_known(attributes)))


def serving_model(experiment_id: str) -> tuple[str | None, str | None]:
    """(serving model id, its artifact URI); the artifact is None for the uniform bootstrap policy or no model."""
    serving_id = read_experiment(experiment_id).get("serving_model_id")
    if not serving_id:
        return None, None
    row = read_model(str(serving_id)) or {}
    return str(serving_id), row.get("artifact_uri")


def lineage_head(experiment_id: str) -> dict[str, Any] | None:
    """The registry row of the learning lineage's head (`learner_model_id`): the model the next candidate learns from.

    An experiment row from before the lineage was recorded has only `serving_model_id`: that model is the head then.
    None when neither is set; a head missing from the registry reads as a row with only its id (no artifact)."""
    experiment = read_experiment(experiment_id)
    head_id = experiment.get("learner_model_id") or experiment.get("serving_model_id")
    if not head_id:
        return None
    return read_model(str(head_id)) or {"model_id": str(head_id)}


def learner_model(experiment_id: str) -> tuple[str | None, str | None]:
    """(lineage head id, its artifact URI), as `serving_model` answers for the serving model."""
    head = lineage_head(experiment_id)
    if head is None:
        return None, None
    return str(head["model_id"]), head.get("artifact_uri")


def serving_row(experiment_id: str) -> dict[str, Any] | None:
    """The serving model's registry row (None without a serving model; a row missing from the registry is its id)."""
    serving_id = read_experiment(experiment_id).get("serving_model_id")
    if not serving_id:
        return None
    return read_model(str(serving_id)) or {"model_id": str(serving_id)}


# --- drift ---------------------------------------------------------------------------------------------------


def record_drift(run_id: str, event: dict[str, Any]) -> None:
    """Record a detected change on the serving model's registry row (`drift`, with the run that detected it).

    It belongs to that model: the next runs read it while the model serves (`read_drift`), training a new lineage on
    the rows after the change and pooling the holdout from there (`lineage.adaptation`, `gate.holdout_since`); once
    another model serves it no longer applies. The evaluate function may update registry rows, not the experiment.
    """
    model_id = event.get("serving_model_id")
    if model_id:
        update_model(str(model_id), drift={**event, "run_id": run_id})


def read_drift(experiment_id: str) -> dict[str, Any] | None:
    """The change detected under the serving model, if any (None when none was, or no model serves)."""
    drift = (serving_row(experiment_id) or {}).get("drift")
    return drift if isinstance(drift, dict) else None
