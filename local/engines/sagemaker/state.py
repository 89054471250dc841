"""Endpoints and what serves them: a production variant (its current instance's process and the router's counters),
a fleet (the variants of one endpoint config: blue or green), an endpoint, and the table of endpoints that owns
their lock."""

from __future__ import annotations

import random
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.engines.sagemaker.common import Params, arn, now
from local.engines.sagemaker.pool import ConnectionPool
from local.errors import AwsError


@dataclass
class Variant:
    """One production variant of one endpoint config. One serving process stands for all its instances; a
    replacement (an unhealthy instance) is a new `instance` with a directory of its own."""

    name: str
    model_name: str
    weight: float
    instance_count: int
    image: str
    root: Path
    role_arn: str = ""
    container: Params = field(default_factory=dict)
    instance: int = 0
    port: int = 0
    process: subprocess.Popen[Any] | None = None
    group_killed: bool = False
    pool: ConnectionPool | None = None
    healthy: bool = False
    down_since: float | None = None
    down_reason: str = ""
    replacing: bool = False
    replacements: int = 0
    invocations: int = 0
    errors: int = 0
    in_flight: int = 0
    inject_errors: bool = False

    @property
    def instance_root(self) -> Path:
        """The current instance's disk: its `/opt/ml` stand-in, its temporary directory and its log."""
        return self.root / f"instance-{self.instance}"

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def describe(self, current_weight: float) -> Params:
        described: Params = {
            "VariantName": self.name,
            "DeployedImages": [{"SpecifiedImage": self.image, "ResolvedImage": self.image, "ResolutionTime": now()}],
            "CurrentWeight": current_weight,
            "DesiredWeight": self.weight,
            "CurrentInstanceCount": self.instance_count if self.healthy else 0,
            "DesiredInstanceCount": self.instance_count,
        }
        if self.down_since is not None:
            message = f"Replacing an unhealthy instance: {self.down_reason}"
            described["VariantStatus"] = [
                {"Status": "Creating", "StatusMessage": message, "StartTime": self.down_since}
            ]
        return described


@dataclass
class Fleet:
    """The processes of one endpoint config (blue or green). `retired` once it is being stopped: nothing restarts
    a retired fleet's containers."""

    config_name: str
    variants: list[Variant]
    lock: threading.Lock = field(default_factory=threading.Lock)
    retired: bool = False

    def pick(self) -> Variant | None:
        """A healthy variant by its weight (SageMaker splits traffic by variant weights and sends it only to
        instances that pass their health check); None when no variant has a healthy instance."""
        healthy = [v for v in self.variants if v.healthy]
        if len(healthy) <= 1:
            return healthy[0] if healthy else None
        weights = [v.weight for v in healthy]
        return random.choices(healthy, weights=weights if any(weights) else None)[0]

    def counts(self) -> tuple[int, int, int]:
        with self.lock:
            return (
                sum(v.invocations for v in self.variants),
                sum(v.errors for v in self.variants),
                sum(v.in_flight for v in self.variants),
            )


@dataclass
class Endpoint:
    name: str
    config_name: str
    created: float
    status: str = "Creating"
    failure: str | None = None
    modified: float = 0.0
    blue: Fleet | None = None
    green: Fleet | None = None
    green_share: float = 0.0
    pending: Params | None = None
    last_deployment: Params | None = None
    update_thread: threading.Thread | None = None
    deleted: bool = False


class EndpointTable:
    """The endpoints by name and the lock that guards their state (status, fleets, traffic split)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._endpoints: dict[str, Endpoint] = {}

    def get(self, name: str) -> Endpoint:
        endpoint = self.live(name)
        if endpoint is None:
            raise AwsError("ValidationException", f'Could not find endpoint "{arn("endpoint", name)}".')
        return endpoint

    def live(self, name: str) -> Endpoint | None:
        with self.lock:
            endpoint = self._endpoints.get(name)
        return None if endpoint is None or endpoint.deleted else endpoint

    def add(self, endpoint: Endpoint) -> None:
        with self.lock:
            if self.live(endpoint.name) is not None:
                raise AwsError(
                    "ValidationException",
                    f'Cannot create already existing endpoint "{arn("endpoint", endpoint.name)}".',
                )
            self._endpoints[endpoint.name] = endpoint

    def all(self) -> list[Endpoint]:
        with self.lock:
            return [e for e in self._endpoints.values() if not e.deleted]

    def set_status(self, endpoint: Endpoint, status: str, failure: str | None = None) -> None:
        with self.lock:
            endpoint.status, endpoint.modified = status, now()
            if failure is not None:
                endpoint.failure = failure

    def reflect_health(self, endpoint: Endpoint) -> None:
        """An endpoint that serves (InService) with no healthy instance in any variant is OutOfService ("not
        available to take incoming requests") until a replacement passes its health check; an update or a
        deletion in progress keeps its own status."""
        with self.lock:
            if endpoint.status not in ("InService", "OutOfService") or endpoint.blue is None:
                return
            status = "InService" if any(v.healthy for v in endpoint.blue.variants) else "OutOfService"
            if status != endpoint.status:
                endpoint.status, endpoint.modified = status, now()

    def mark_down(self, endpoint: Endpoint, fleet: Fleet, variant: Variant, reason: str) -> None:
        """The variant's instance failed its health check (or its process exited): no traffic until replaced."""
        with fleet.lock:
            if variant.down_since is None:
                variant.down_since, variant.down_reason = now(), reason
            variant.healthy = False
        self.reflect_health(endpoint)

    def mark_up(self, endpoint: Endpoint, fleet: Fleet, variant: Variant) -> None:
        with fleet.lock:
            variant.healthy, variant.down_since, variant.down_reason = True, None, ""
        self.reflect_health(endpoint)
