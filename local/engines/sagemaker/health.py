"""Health checks of the serving fleets and the replacement of unhealthy instances, as SageMaker hosting does.

SageMaker sends every container periodic `GET /ping` requests (2 s timeout) and launches new inference containers
when "replacing unhealthy instances" ("Custom Inference Code with Hosting Services"). Here: each in-service fleet
is checked every `interval`; a container whose process has exited, or that fails `UNHEALTHY_AFTER` pings in a row,
is unhealthy: it gets no traffic, the variant's `CurrentInstanceCount` is 0 with a `VariantStatus` saying why, and
an endpoint left with no healthy instance is `OutOfService`. A new instance (fresh disk, same environment and role)
replaces it; once it passes `/ping` it takes traffic and the endpoint is `InService` again.

A green fleet mid-update is not watched here: its failure is the update's rollback (blue_green.py).
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field

from local.engines.sagemaker.fleet import FleetLauncher, log_tail, stop_instance
from local.engines.sagemaker.state import Endpoint, EndpointTable, Fleet, Variant

HEALTH_INTERVAL = 1.0
UNHEALTHY_AFTER = 3
"""Failed pings in a row that make a running container unhealthy (SageMaker does not publish its count)."""
RETRY_SECONDS = 5.0


@dataclass
class HealthMonitor:
    """One thread that pings the serving fleets; one thread per replacement in progress."""

    table: EndpointTable
    launcher: FleetLauncher
    closing: threading.Event
    ping_timeout: float
    interval: float = HEALTH_INTERVAL
    _failed_pings: dict[int, int] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        threading.Thread(target=self._watch, name="sagemaker-health", daemon=True).start()

    def _watch(self) -> None:
        while not self.closing.wait(self.interval):
            for endpoint in self.table.all():
                fleet = endpoint.blue
                if fleet is None or fleet.retired:
                    continue
                try:
                    self.check(endpoint, fleet)
                except Exception as err:  # one endpoint's trouble (or a bug here) must not stop the others' checks
                    print(f"local sagemaker: health check of {endpoint.name} failed: {err!r}", file=sys.stderr)

    def check(self, endpoint: Endpoint, fleet: Fleet) -> None:
        """One round of health checks of the fleet serving `endpoint`; starts the replacements it calls for."""
        for variant in fleet.variants:
            if variant.replacing:
                continue
            reason = self._unhealthy(variant)
            if reason is None:
                continue
            self.table.mark_down(endpoint, fleet, variant, reason)
            variant.replacing = True
            threading.Thread(
                target=self._replace, args=(endpoint, fleet, variant), name=f"replace-{variant.name}", daemon=True
            ).start()

    def _unhealthy(self, variant: Variant) -> str | None:
        """Why the variant's container is unhealthy now, or None."""
        process = variant.process
        if process is not None and process.poll() is not None:
            return f"the container exited with code {process.returncode}"
        if not variant.healthy:
            return None  # not yet in service: its launch's health check decides
        key = id(variant)
        if self.launcher.ping(variant):
            self._failed_pings.pop(key, None)
            return None
        self._failed_pings[key] = self._failed_pings.get(key, 0) + 1
        if self._failed_pings[key] < UNHEALTHY_AFTER:
            return None
        self._failed_pings.pop(key, None)
        return f"the container did not answer {UNHEALTHY_AFTER} ping health checks in a row"

    def _replace(self, endpoint: Endpoint, fleet: Fleet, variant: Variant) -> None:
        """Stop what is left of the instance and launch new ones until one passes its health check. A fleet
        retired (its endpoint updated or deleted, the engine closing) meanwhile keeps nothing of the replacement."""
        try:
            while not self._abandoned(endpoint, fleet):
                stop_instance(variant)
                try:
                    self.launcher.launch(variant)
                    self.launcher.await_variant(variant, time.monotonic() + self.ping_timeout, self.ping_timeout)
                except Exception as err:  # the new instance failed too: SageMaker keeps replacing it
                    with fleet.lock:
                        variant.down_reason = f"the replacement failed: {err} {log_tail(variant)}".strip()[:1024]
                    self.closing.wait(RETRY_SECONDS)
                    continue
                if self._abandoned(endpoint, fleet):
                    break
                with fleet.lock:
                    variant.replacements += 1
                self.table.mark_up(endpoint, fleet, variant)
                return
            stop_instance(variant)
        finally:
            variant.replacing = False

    def _abandoned(self, endpoint: Endpoint, fleet: Fleet) -> bool:
        return fleet.retired or endpoint.deleted or self.closing.is_set()
