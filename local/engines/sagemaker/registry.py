"""Models, endpoint configs and tags: SageMaker's records that start nothing by themselves.

A model and an endpoint config are stored as the request made them (plus ARN and creation time) and described as
stored; both are one `Records` each, which owns its names, its messages and its lock.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

from local.engines.deployment import validate_variants
from local.engines.sagemaker.common import Params, arn, now, page, require
from local.errors import AwsError


class Tags:
    """Tags per resource ARN (AddTags, ListTags, DeleteTags and the Tags of a Create* request)."""

    def __init__(self) -> None:
        self._tags: dict[str, list[dict[str, str]]] = {}
        self._lock = threading.Lock()

    def put(self, resource_arn: str, tags: list[dict[str, str]]) -> None:
        """Add or replace tags by key."""
        if not tags:
            return
        with self._lock:
            current = {t["Key"]: t for t in self._tags.get(resource_arn, [])}
            current.update({t["Key"]: t for t in tags})
            self._tags[resource_arn] = list(current.values())

    def add(self, params: Params) -> Params:
        tags = params.get("Tags") or []
        self.put(require(params, "ResourceArn"), tags)
        return {"Tags": tags}

    def list_page(self, params: Params) -> Params:
        with self._lock:
            return {"Tags": list(self._tags.get(require(params, "ResourceArn"), []))}

    def delete(self, params: Params) -> Params:
        resource_arn = require(params, "ResourceArn")
        keys = set(params.get("TagKeys") or [])
        with self._lock:
            self._tags[resource_arn] = [t for t in self._tags.get(resource_arn, []) if t["Key"] not in keys]
        return {}


@dataclass
class Records:
    """One kind of stored record (models or endpoint configs): create once, describe, delete, list."""

    kind: str
    noun: str
    name_key: str
    arn_key: str
    list_key: str
    tags: Tags
    _records: dict[str, Params] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def create(self, name: str, record: Params, tags: list[dict[str, str]]) -> Params:
        record_arn = arn(self.kind, name)
        with self._lock:
            if name in self._records:
                raise AwsError("ValidationException", f'Cannot create already existing {self.noun} "{record_arn}".')
            self._records[name] = {self.name_key: name, self.arn_key: record_arn, "CreationTime": now(), **record}
        self.tags.put(record_arn, list(tags))
        return {self.arn_key: record_arn}

    def get(self, name: str) -> Params:
        with self._lock:
            record = self._records.get(name)
        if record is None:
            raise AwsError("ValidationException", f'Could not find {self.noun} "{arn(self.kind, name)}".')
        return record

    def describe(self, params: Params) -> Params:
        return json.loads(json.dumps(self.get(require(params, self.name_key))))

    def delete(self, params: Params) -> Params:
        name = require(params, self.name_key)
        self.get(name)
        with self._lock:
            self._records.pop(name, None)
        return {}

    def list_page(self, params: Params) -> Params:
        with self._lock:
            records = sorted(self._records.values(), key=lambda r: r["CreationTime"], reverse=True)
        if params.get("NameContains"):
            records = [r for r in records if params["NameContains"] in r[self.name_key]]
        fields = (self.name_key, self.arn_key, "CreationTime")
        return page([{k: r[k] for k in fields} for r in records], params, self.list_key)


class Registry:
    """CreateModel / CreateEndpointConfig and their Describe, Delete and List operations."""

    def __init__(self, tags: Tags) -> None:
        self.models = Records("model", "model", "ModelName", "ModelArn", "Models", tags)
        self.configs = Records(
            "endpoint-config",
            "endpoint configuration",
            "EndpointConfigName",
            "EndpointConfigArn",
            "EndpointConfigs",
            tags,
        )

    def model(self, name: str) -> Params:
        return self.models.get(name)

    def config(self, name: str) -> Params:
        return self.configs.get(name)

    def create_model(self, params: Params) -> Params:
        name = require(params, "ModelName")
        container = params.get("PrimaryContainer") or (params.get("Containers") or [None])[0]
        if not container:
            raise AwsError("ValidationException", "PrimaryContainer or Containers is required")
        record = {
            "PrimaryContainer": container,
            "ExecutionRoleArn": params.get("ExecutionRoleArn", ""),
            "EnableNetworkIsolation": bool(params.get("EnableNetworkIsolation", False)),
        }
        return self.models.create(name, record, params.get("Tags") or [])

    def create_endpoint_config(self, params: Params) -> Params:
        name = require(params, "EndpointConfigName")
        variants = require(params, "ProductionVariants")
        validate_variants(variants)
        for variant in variants:
            self.model(variant.get("ModelName", ""))
        return self.configs.create(name, {"ProductionVariants": variants}, params.get("Tags") or [])
