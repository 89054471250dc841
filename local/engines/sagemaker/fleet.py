"""Starting and stopping the serving processes of an endpoint config: one `python -m container serve` per
production variant, each instance with a disk of its own (`<variant>/instance-<n>/`: `ml/` as `/opt/ml`, `tmp/`,
`serve.log`), the model from `ModelDataUrl`, the Model's environment and its execution role's credentials."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import tarfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from local.engines.sagemaker.common import Clients, split_s3
from local.engines.sagemaker.images import Images
from local.engines.sagemaker.pool import ConnectionPool
from local.engines.sagemaker.processes import instance_environment, stop_process
from local.engines.sagemaker.registry import Registry
from local.engines.sagemaker.roles import RoleChecks
from local.engines.sagemaker.state import Fleet, Variant
from local.faults import CORRUPT_MODEL_BYTES, Faults
from local.ports import free_port

PING_TIMEOUT_SECONDS = 2.0
"""SageMaker: "The request timeout on /ping attempts is 2 seconds"."""


class HealthCheckFailed(RuntimeError):
    """A container did not pass the ping health check (SageMaker's wording, with the container log's tail)."""


@dataclass
class FleetLauncher:
    """Launches, health-checks, drains and stops serving processes; `faults` is the gateway's fault injection."""

    state_dir: Path
    registry: Registry
    roles: RoleChecks
    clients: Clients
    container_module: str
    python: str
    closing: threading.Event
    images: Images = field(default_factory=Images)
    faults: Faults = field(default_factory=Faults)

    def start(self, endpoint_name: str, config_name: str) -> Fleet:
        """Every variant of the config launched (not yet healthy); nothing left running when one fails."""
        config = self.registry.config(config_name)
        stamp = f"{config_name}-{int(time.time() * 1000)}"
        fleet = Fleet(config_name=config_name, variants=[])
        try:
            for spec in config["ProductionVariants"]:
                model = self.registry.model(spec["ModelName"])
                self.roles.authorize_model(model)
                container = model["PrimaryContainer"]
                variant = Variant(
                    name=spec["VariantName"],
                    model_name=spec["ModelName"],
                    weight=float(spec.get("InitialVariantWeight", 1.0)),
                    instance_count=int(spec.get("InitialInstanceCount", 1)),
                    image=container.get("Image", "local"),
                    root=self.state_dir / "endpoints" / endpoint_name / stamp / spec["VariantName"],
                    role_arn=str(model.get("ExecutionRoleArn", "")),
                    container=container,
                )
                fleet.variants.append(variant)
                self.launch(variant)
        except Exception:
            self.stop(fleet)
            raise
        return fleet

    def launch(self, variant: Variant) -> None:
        """A new instance of the variant: a fresh disk, the model downloaded onto it, the container started.

        The same environment every time (the Model's `Environment`, its execution role); nothing of an earlier
        instance's disk: SageMaker replaces an unhealthy instance with a new one.
        """
        variant.instance += 1
        variant.group_killed = False
        root = variant.instance_root
        ml = root / "ml"
        model_dir = ml / "model"
        for directory in (model_dir, ml / "output", root / "tmp"):
            directory.mkdir(parents=True, exist_ok=True)
        self._load_model(variant, root, model_dir)
        program_dir = self.images.program_dir(str(variant.container.get("Image", "")))
        env = instance_environment(self.clients.endpoint_url, program_dir)
        env["SERVE_WORKERS"] = "1"
        env.update({k: str(v) for k, v in (variant.container.get("Environment") or {}).items()})
        env.update(self.roles.credentials(variant.role_arn))
        variant.port = free_port()
        # SageMaker's own: the port to listen on (8080 on AWS unless it sets this, as for inference pipelines).
        # SM_ML_ROOT moves /opt/ml to this instance's directory, TMPDIR is the instance's /tmp.
        env.update({"SM_ML_ROOT": str(ml), "SAGEMAKER_BIND_TO_PORT": str(variant.port), "TMPDIR": str(root / "tmp")})
        log = open(root / "serve.log", "ab")  # noqa: SIM115 - the process owns it for its lifetime
        try:
            variant.process = subprocess.Popen(
                [self.python, "-m", self.container_module, "serve"],
                cwd=program_dir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        variant.pool = ConnectionPool(variant.port)

    def _load_model(self, variant: Variant, root: Path, model_dir: Path) -> None:
        url = variant.container.get("ModelDataUrl")
        if url:
            if url.endswith(".tar.gz"):
                bucket, key = split_s3(url)
                archive = root / "model.tar.gz"
                try:
                    self.clients.get("s3").download_file(bucket, key, str(archive))
                except Exception as err:
                    raise RuntimeError(f"Failed to download model data from {url}: {err}") from None
                with tarfile.open(archive) as tar:
                    tar.extractall(model_dir, filter="data")
            else:
                self.clients.download(url, model_dir)
        names = [
            str((variant.container.get("Environment") or {}).get("MODEL_ID", "")),
            variant.model_name,
            str(url or ""),
        ]
        fault = self.faults.model_fault(names)
        if fault == "unhealthy":  # the real serve must fail to load it: a deterministic, corrupted vw.model
            (model_dir / "vw.model").write_bytes(CORRUPT_MODEL_BYTES)
            self.faults.count("unhealthy_model")
        variant.inject_errors = fault == "erroring"

    def ping(self, variant: Variant) -> bool:
        """One health check: `GET /ping` answered 200 within 2 seconds."""
        if variant.pool is None:
            return False
        try:
            status, _, _ = variant.pool.request("GET", "/ping", None, {}, timeout=PING_TIMEOUT_SECONDS)
        except (OSError, http.client.HTTPException):
            return False
        return status == 200

    def await_healthy(self, fleet: Fleet, timeout: float) -> None:
        """Until every variant answers `GET /ping` with 200 (each then takes traffic); `HealthCheckFailed`."""
        deadline = time.monotonic() + timeout
        for variant in fleet.variants:
            self.await_variant(variant, deadline, timeout)
            with fleet.lock:
                variant.healthy = True

    def await_variant(self, variant: Variant, deadline: float, timeout: float) -> None:
        while not self.ping(variant):
            if variant.process is not None and variant.process.poll() is not None:
                raise HealthCheckFailed(
                    f"The primary container for production variant {variant.name} did not pass the ping health "
                    f"check: the container exited with code {variant.process.returncode}. {log_tail(variant)}".strip()
                )
            if time.monotonic() >= deadline or self.closing.is_set():
                raise HealthCheckFailed(
                    f"The primary container for production variant {variant.name} did not pass the ping health "
                    f"check within {timeout:g} seconds. {log_tail(variant)}".strip()
                )
            time.sleep(0.1)

    @staticmethod
    def drain(fleet: Fleet, timeout: float = 30.0) -> None:
        """Until the fleet has no request in flight (the router sends it no new ones)."""
        deadline = time.monotonic() + timeout
        while fleet.counts()[2] > 0 and time.monotonic() < deadline:
            time.sleep(0.02)

    @staticmethod
    def stop(fleet: Fleet) -> None:
        """Retire the fleet (no replacement starts) and stop its containers: SIGTERM, SIGKILL after 30 s."""
        fleet.retired = True
        for variant in fleet.variants:
            stop_instance(variant)


def stop_instance(variant: Variant) -> None:
    """Stop the variant's current container. One whose main process already exited is gone, as Docker ends a
    container when its PID 1 exits: what it left running (a forked worker) is killed, once."""
    process = variant.process
    if process is not None and process.poll() is not None and not variant.group_killed:
        variant.group_killed = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    stop_process(process)
    if variant.pool is not None:
        variant.pool.close()


def log_tail(variant: Variant) -> str:
    """The last lines of the current instance's container log (for a FailureReason)."""
    path = variant.instance_root / "serve.log"
    if not path.exists():
        return ""
    lines = path.read_text(errors="replace").strip().splitlines()[-3:]
    return ("Container log: " + " | ".join(lines))[:600] if lines else ""
