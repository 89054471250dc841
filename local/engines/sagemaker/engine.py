"""The thin front the gateway talks to: `dispatch(operation, params)` for the JSON-protocol calls it names in
`operations`, `invoke_endpoint` for sagemaker-runtime, `close()`; `faults` and `iam` are the gateway's, handed to
the parts that use them. Each part owns its state and is given what it needs when it is made."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from local.engines.sagemaker.blue_green import BlueGreenController
from local.engines.sagemaker.common import Clients, Params
from local.engines.sagemaker.endpoints import Endpoints
from local.engines.sagemaker.fleet import FleetLauncher
from local.engines.sagemaker.health import HEALTH_INTERVAL, HealthMonitor
from local.engines.sagemaker.images import Images
from local.engines.sagemaker.processes import STOP_GRACE
from local.engines.sagemaker.registry import Registry, Tags
from local.engines.sagemaker.roles import RoleChecks
from local.engines.sagemaker.router import Reply, Router
from local.engines.sagemaker.state import EndpointTable
from local.engines.sagemaker.training import TrainingJobs
from local.engines.sagemaker.training_run import JobRunner
from local.errors import AwsError
from local.faults import Faults

PING_TIMEOUT = float(os.environ.get("LOCAL_SAGEMAKER_PING_TIMEOUT", "60"))
WATCH_INTERVAL = 0.5


class SageMakerEngine:
    """SageMaker's control plane for training jobs, models, endpoint configs and endpoints, plus InvokeEndpoint."""

    def __init__(
        self,
        state_dir: Path,
        endpoint_url: str,
        container_module: str | None = None,
        python: str = sys.executable,
        ping_timeout: float = PING_TIMEOUT,
        watch_interval: float = WATCH_INTERVAL,
        health_interval: float = HEALTH_INTERVAL,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        module = container_module or os.environ.get("LOCAL_SAGEMAKER_CONTAINER_MODULE", "container")
        self._closing = threading.Event()
        clients = Clients(endpoint_url)
        self.roles = RoleChecks()
        self.tags = Tags()
        self.registry = Registry(self.tags)
        self.images = Images()
        self.runner = JobRunner(clients, self.roles, module, python, self.images)
        self.jobs = TrainingJobs(self.state_dir, self.tags, self.runner.run)
        self.table = EndpointTable()
        self.launcher = FleetLauncher(
            self.state_dir, self.registry, self.roles, clients, module, python, self._closing, self.images
        )
        self.deployments = BlueGreenController(
            self.table, self.launcher, self.registry, self.roles, clients, self._closing, ping_timeout, watch_interval
        )
        self.endpoints = Endpoints(self.table, self.registry, self.tags, self.launcher, self.deployments, ping_timeout)
        self.router = Router(self.table)
        self.health = HealthMonitor(self.table, self.launcher, self._closing, ping_timeout, health_interval)
        self._operations: dict[str, Callable[[Params], Params]] = {
            "CreateTrainingJob": self.jobs.create,
            "DescribeTrainingJob": self.jobs.describe,
            "ListTrainingJobs": self.jobs.list_page,
            "StopTrainingJob": self.jobs.stop,
            "CreateModel": self.registry.create_model,
            "DescribeModel": self.registry.models.describe,
            "DeleteModel": self.registry.models.delete,
            "ListModels": self.registry.models.list_page,
            "CreateEndpointConfig": self.registry.create_endpoint_config,
            "DescribeEndpointConfig": self.registry.configs.describe,
            "DeleteEndpointConfig": self.registry.configs.delete,
            "ListEndpointConfigs": self.registry.configs.list_page,
            "CreateEndpoint": self.endpoints.create,
            "DescribeEndpoint": self.endpoints.describe,
            "UpdateEndpoint": self.endpoints.update,
            "DeleteEndpoint": self.endpoints.delete,
            "ListEndpoints": self.endpoints.list_page,
            "AddTags": self.tags.add,
            "ListTags": self.tags.list_page,
            "DeleteTags": self.tags.delete,
        }
        self.operations = frozenset(self._operations)

    @property
    def faults(self) -> Faults:
        """Fault injection (`local.faults`), shared with the gateway: job faults, model faults, erroring models."""
        return self.router.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self.runner.faults = self.launcher.faults = self.router.faults = faults

    @property
    def iam(self) -> Any:
        """The gateway's `local.iam.authorizer.Authorizer`: what the job's / model's role may do (None: no checks)."""
        return self.roles.iam

    @iam.setter
    def iam(self, authorizer: Any) -> None:
        self.roles.iam = authorizer

    def register_image(self, tag: str, program_dir: Path) -> None:
        """What an image tagged `tag` runs (`local.provision.register_images`): see `Images.register`."""
        self.images.register(tag, program_dir)

    def dispatch(self, operation: str, params: Params) -> Params:
        handler = self._operations.get(operation)
        if handler is None:
            raise AwsError(
                "ValidationException", f"operation {operation} is not supported by the local SageMaker engine"
            )
        return handler(params or {})

    def invoke_endpoint(self, endpoint_name: str, body: bytes, content_type: str, accept: str) -> Reply:
        """Route one invocation to the endpoint's serving process (sagemaker-runtime InvokeEndpoint)."""
        return self.router.invoke(endpoint_name, body, content_type, accept)

    def variant_counters(self, endpoint_name: str) -> dict[str, dict[str, int]]:
        return self.router.counters(endpoint_name)

    def variant_processes(self, endpoint_name: str) -> list[Params]:
        return self.endpoints.processes(endpoint_name)

    def wait_endpoint(
        self, name: str, timeout: float = 120.0, statuses: tuple[str, ...] = ("InService", "Failed")
    ) -> str:
        return self.endpoints.wait(name, timeout, statuses)

    def wait_job(self, name: str, timeout: float = 120.0) -> str:
        return self.jobs.wait(name, timeout)

    def close(self) -> None:
        """Stop every training job and serving process (SIGTERM in parallel)."""
        self._closing.set()
        self.jobs.close()
        threads = []
        for fleet in self.endpoints.close():
            thread = threading.Thread(target=self.launcher.stop, args=(fleet,), daemon=True)
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join(STOP_GRACE + 10)
