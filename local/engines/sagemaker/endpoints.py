"""Endpoints' control plane: CreateEndpoint, DescribeEndpoint, ListEndpoints, UpdateEndpoint, DeleteEndpoint.

Creation and updates run in a thread per endpoint: creation starts the config's fleet and waits for `/ping`
(`InService` or `Failed`), an update is the blue/green controller's.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from local.engines.deployment import DEFAULT_POLICY, validate_deployment
from local.engines.sagemaker.blue_green import BlueGreenController
from local.engines.sagemaker.common import Params, arn, now, page, require
from local.engines.sagemaker.fleet import FleetLauncher
from local.engines.sagemaker.registry import Registry, Tags
from local.engines.sagemaker.state import Endpoint, EndpointTable, Fleet
from local.errors import AwsError


@dataclass
class Endpoints:
    """The endpoint operations over `table`; fleets come from `launcher`, updates go to `controller`."""

    table: EndpointTable
    registry: Registry
    tags: Tags
    launcher: FleetLauncher
    controller: BlueGreenController
    ping_timeout: float

    def create(self, params: Params) -> Params:
        name = require(params, "EndpointName")
        config_name = require(params, "EndpointConfigName")
        config = self.registry.config(config_name)
        if params.get("DeploymentConfig"):  # the policy for later updates: refused now if SageMaker would
            validate_deployment(params["DeploymentConfig"], config["ProductionVariants"])
        endpoint = Endpoint(name=name, config_name=config_name, created=now())
        endpoint.modified = endpoint.created
        self.table.add(endpoint)
        self.tags.put(arn("endpoint", name), list(params.get("Tags") or []))
        self._start(endpoint, self._create, (endpoint,), f"endpoint-{name}")
        return {"EndpointArn": arn("endpoint", name)}

    @staticmethod
    def _start(endpoint: Endpoint, target: Any, args: tuple[Any, ...], name: str) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        endpoint.update_thread = thread
        thread.start()

    def _create(self, endpoint: Endpoint) -> None:
        fleet: Fleet | None = None
        try:
            fleet = self.launcher.start(endpoint.name, endpoint.config_name)
            self.launcher.await_healthy(fleet, self.ping_timeout)
            with self.table.lock:
                endpoint.blue = fleet
            self.table.set_status(endpoint, "InService")
        except Exception as err:  # the endpoint fails with the reason; nothing keeps running
            if fleet is not None:
                self.launcher.stop(fleet)
            self.table.set_status(endpoint, "Failed", failure=str(err))

    def describe(self, params: Params) -> Params:
        endpoint = self.table.get(require(params, "EndpointName"))
        with self.table.lock:
            described: Params = {
                "EndpointName": endpoint.name,
                "EndpointArn": arn("endpoint", endpoint.name),
                "EndpointConfigName": endpoint.config_name,
                "EndpointStatus": endpoint.status,
                "CreationTime": endpoint.created,
                "LastModifiedTime": endpoint.modified,
            }
            if endpoint.blue is not None:
                described["ProductionVariants"] = _variants_view(endpoint.blue, 1.0 - endpoint.green_share)
            if endpoint.failure:
                described["FailureReason"] = endpoint.failure
            if endpoint.last_deployment is not None:
                described["LastDeploymentConfig"] = endpoint.last_deployment
            if endpoint.pending is not None:
                pending = dict(endpoint.pending)
                if endpoint.green is not None:
                    pending["ProductionVariants"] = [
                        {**v, "VariantStatus": pending.get("VariantStatus", [])}
                        for v in _variants_view(endpoint.green, endpoint.green_share)
                    ]
                pending.pop("VariantStatus", None)
                described["PendingDeploymentSummary"] = pending
        return described

    def list_page(self, params: Params) -> Params:
        endpoints = self.table.all()
        if params.get("StatusEquals"):
            endpoints = [e for e in endpoints if e.status == params["StatusEquals"]]
        if params.get("NameContains"):
            endpoints = [e for e in endpoints if params["NameContains"] in e.name]
        endpoints.sort(key=lambda e: e.created, reverse=params.get("SortOrder", "Descending") == "Descending")
        summaries = [
            {
                "EndpointName": e.name,
                "EndpointArn": arn("endpoint", e.name),
                "CreationTime": e.created,
                "LastModifiedTime": e.modified,
                "EndpointStatus": e.status,
            }
            for e in endpoints
        ]
        return page(summaries, params, "Endpoints")

    def delete(self, params: Params) -> Params:
        endpoint = self.table.get(require(params, "EndpointName"))
        with self.table.lock:
            endpoint.deleted = True
            endpoint.status = "Deleting"
            fleets = [f for f in (endpoint.green, endpoint.blue) if f is not None]
            endpoint.green = endpoint.blue = None
        for fleet in fleets:
            fleet.retired = True
            threading.Thread(target=self.launcher.stop, args=(fleet,), daemon=True).start()
        return {}

    def update(self, params: Params) -> Params:
        endpoint = self.table.get(require(params, "EndpointName"))
        config_name = require(params, "EndpointConfigName")
        config = self.registry.config(config_name)
        deployment = validate_deployment(params.get("DeploymentConfig") or DEFAULT_POLICY, config["ProductionVariants"])
        with self.table.lock:
            if endpoint.status != "InService":
                raise AwsError(
                    "ValidationException", f'Cannot update in-progress endpoint "{arn("endpoint", endpoint.name)}".'
                )
            endpoint.status, endpoint.failure, endpoint.modified = "Updating", None, now()
            endpoint.last_deployment = json.loads(json.dumps(deployment))
            endpoint.pending = {
                "EndpointConfigName": config_name,
                "StartTime": now(),
                "VariantStatus": [
                    {"Status": "Creating", "StatusMessage": "Launching the green fleet", "StartTime": now()}
                ],
            }
            self._start(endpoint, self.controller.run, (endpoint, config_name, deployment), f"update-{endpoint.name}")
        return {"EndpointArn": arn("endpoint", endpoint.name)}

    def wait(self, name: str, timeout: float = 120.0, statuses: tuple[str, ...] = ("InService", "Failed")) -> str:
        """Until the endpoint's update/creation thread is done and its status is one of `statuses`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            endpoint = self.table.get(name)
            thread = endpoint.update_thread
            if endpoint.status in statuses and (thread is None or not thread.is_alive()):
                return endpoint.status
            time.sleep(0.05)
        return self.table.get(name).status

    def processes(self, name: str) -> list[Params]:
        """The serving processes of an endpoint (fleet, config, variant, instance, pid, port, health, counters)."""
        endpoint = self.table.get(name)
        with self.table.lock:
            fleets = [("blue", endpoint.blue), ("green", endpoint.green)]
        found = []
        for role, fleet in fleets:
            if fleet is None:
                continue
            with fleet.lock:
                for v in fleet.variants:
                    found.append(
                        {
                            "fleet": role,
                            "config": fleet.config_name,
                            "variant": v.name,
                            "model_name": v.model_name,
                            "instance": v.instance,
                            "pid": v.process.pid if v.process is not None else None,
                            "running": v.process is not None and v.process.poll() is None,
                            "healthy": v.healthy,
                            "replacements": v.replacements,
                            "port": v.port,
                            "invocations": v.invocations,
                            "errors": v.errors,
                            "in_flight": v.in_flight,
                        }
                    )
        return found

    def close(self) -> list[Fleet]:
        """Every fleet, retired (for the front to stop)."""
        fleets = []
        for endpoint in self.table.all():
            for fleet in (endpoint.green, endpoint.blue):
                if fleet is not None:
                    fleet.retired = True
                    fleets.append(fleet)
        return fleets


def _variants_view(fleet: Fleet, share: float) -> list[Params]:
    return [v.describe(round(share * v.weight, 6)) for v in fleet.variants]
