"""The blue/green deployment controller of `UpdateEndpoint`: start green, health-check it, shift traffic by the
policy's steps, watch every bake (alarms, green's errors, green's process, the execution timeout), then drain and
stop blue; or roll back to blue with the reason as the endpoint's FailureReason."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from local.engines.deployment import traffic_steps, variant_instances
from local.engines.sagemaker.common import Clients, Params, Rollback, now
from local.engines.sagemaker.fleet import FleetLauncher
from local.engines.sagemaker.registry import Registry
from local.engines.sagemaker.roles import RoleChecks
from local.engines.sagemaker.state import Endpoint, EndpointTable, Fleet

ERROR_RATE_THRESHOLD = 0.1
MIN_ERRORS = 3


@dataclass
class BlueGreenController:
    """Runs one update per endpoint in the update's thread; the table's lock guards what the router reads."""

    table: EndpointTable
    launcher: FleetLauncher
    registry: Registry
    roles: RoleChecks
    clients: Clients
    closing: threading.Event
    ping_timeout: float
    watch_interval: float

    def run(self, endpoint: Endpoint, config_name: str, deployment: Params) -> None:
        policy = deployment.get("BlueGreenUpdatePolicy") or {}
        routing = policy.get("TrafficRoutingConfiguration") or {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}
        termination_wait = float(policy.get("TerminationWaitInSeconds", 0))
        deadline = time.monotonic() + float(policy.get("MaximumExecutionTimeoutInSeconds", 28800))
        alarms = [a["AlarmName"] for a in (deployment.get("AutoRollbackConfiguration") or {}).get("Alarms", [])]
        green: Fleet | None = None
        try:
            green = self.launcher.start(endpoint.name, config_name)
            with self.table.lock:
                endpoint.green = green
            try:
                self.launcher.await_healthy(green, min(self.ping_timeout, max(1.0, deadline - time.monotonic())))
            except RuntimeError as err:
                raise Rollback(str(err)) from None
            instances = variant_instances(self.registry.config(config_name)["ProductionVariants"][0])
            for share, wait in traffic_steps(routing, instances):
                with self.table.lock:
                    endpoint.green_share = share
                stage = "ActivatingTraffic" if share < 1.0 else "Baking"
                self.variant_status(endpoint, stage, f"{share * 100:g}% of traffic on green")
                self.bake(endpoint, green, alarms, wait, deadline)
            self.bake(endpoint, green, alarms, termination_wait, deadline)
        except Rollback as why:
            self.roll_back(endpoint, green, str(why))
            return
        except Exception as err:  # the green fleet could not even start (model download, bad config): roll back
            self.roll_back(endpoint, green, f"{type(err).__name__}: {err}")
            return
        self._promote(endpoint, green, config_name)

    def _promote(self, endpoint: Endpoint, green: Fleet, config_name: str) -> None:
        with self.table.lock:
            blue, endpoint.blue, endpoint.green = endpoint.blue, green, None
            endpoint.green_share = 0.0
            endpoint.config_name = config_name
            endpoint.modified = now()
        if blue is not None:
            self.variant_status(endpoint, "Deleting", "Draining and terminating the blue fleet")
            blue.retired = True
            self.launcher.drain(blue)
            self.launcher.stop(blue)
        with self.table.lock:
            endpoint.pending = None
            endpoint.status, endpoint.modified = "InService", now()
        self.table.reflect_health(endpoint)

    def variant_status(self, endpoint: Endpoint, status: str, message: str) -> None:
        with self.table.lock:
            if endpoint.pending is not None:
                endpoint.pending["VariantStatus"] = [{"Status": status, "StatusMessage": message, "StartTime": now()}]
            endpoint.modified = now()

    def bake(self, endpoint: Endpoint, green: Fleet, alarms: list[str], seconds: float, deadline: float) -> None:
        """Watch alarms and green's error rate for `seconds`; raise `Rollback` when either says so."""
        end = time.monotonic() + seconds
        while True:
            if self.closing.is_set():
                raise Rollback("the local runtime is shutting down")
            if endpoint.deleted:
                raise Rollback("the endpoint was deleted")
            self.check(green, alarms)
            if time.monotonic() >= deadline:
                raise Rollback("the deployment exceeded MaximumExecutionTimeoutInSeconds")
            remaining = end - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(self.watch_interval, remaining))

    def check(self, green: Fleet, alarms: list[str]) -> None:
        """One look at green: its error rate, its processes, the auto-rollback alarms (read as its roles)."""
        invocations, errors, _ = green.counts()
        if errors >= MIN_ERRORS and errors >= ERROR_RATE_THRESHOLD * max(1, invocations):
            raise Rollback(
                f"Invocation5XXErrors on the new endpoint configuration {green.config_name}: {errors} errors in "
                f"{invocations} invocations"
            )
        for variant in green.variants:
            if variant.process is not None and variant.process.poll() is not None:
                raise Rollback(
                    f"the container of production variant {variant.name} of {green.config_name} exited with "
                    f"code {variant.process.returncode}"
                )
        if alarms:
            self.roles.authorize_alarms([v.role_arn for v in green.variants], alarms)
            try:
                answer = self.clients.get("cloudwatch").describe_alarms(AlarmNames=alarms)
            except Exception:  # CloudWatch unreachable: the alarm check is skipped this round, like a missing datapoint
                return
            firing = [a["AlarmName"] for a in answer.get("MetricAlarms", []) if a.get("StateValue") == "ALARM"]
            if firing:
                raise Rollback(f"alarm(s) {', '.join(sorted(firing))} in ALARM state")

    def roll_back(self, endpoint: Endpoint, green: Fleet | None, reason: str) -> None:
        with self.table.lock:
            endpoint.status = "RollingBack"
            endpoint.green_share = 0.0
            endpoint.modified = now()
        if green is not None:
            green.retired = True
            self.launcher.drain(green)
            self.launcher.stop(green)
        with self.table.lock:
            endpoint.green = None
            endpoint.pending = None
            endpoint.failure = f"Update rolled back to endpoint configuration {endpoint.config_name}: {reason}"
            endpoint.status = "InService" if not endpoint.deleted else "Deleting"
            endpoint.modified = now()
        self.table.reflect_health(endpoint)
