"""SageMaker on this machine: training jobs as `python -m container <entrypoint>` subprocesses, endpoints as local
`python -m container serve` processes behind an InvokeEndpoint router, with blue/green updates and auto-rollback.

Training job (`CreateTrainingJob`): a worker thread lays out SageMaker's `/opt/ml` under
`<state_dir>/jobs/<name>/ml` (`input/config/hyperparameters.json`, `inputdataconfig.json`, `resourceconfig.json`,
`input/data/<channel>/` downloaded from the channel's S3 prefix or object), runs the container module with
`SM_ML_ROOT` pointing there (cwd = the repository root; `StoppingCondition.MaxRuntimeInSeconds` kills it), parses
`AlgorithmSpecification.MetricDefinitions` regexes from its output, then tars `model/` into `model.tar.gz` at
`<S3OutputPath>/<job>/output/model.tar.gz`. A non-zero exit is `Failed` with `AlgorithmError: <output/failure>`.
The module is `container` (env `LOCAL_SAGEMAKER_CONTAINER_MODULE` or the constructor's `container_module`
replaces it, for tests).

Endpoint: one `serve` process per production variant (`SERVE_WORKERS=1` unless the Model's environment says
otherwise: this machine has few cores), model from `ModelDataUrl` extracted into its `model/`, environment = the
Model's `Environment` + `SAGEMAKER_BIND_TO_PORT` (a free port) + the gateway's endpoint and credentials standing for
the instance's network and role, and no region unless the Model sets one (as on SageMaker). The
router (`invoke_endpoint`) picks a fleet by the current traffic split and a variant by weight, and forwards over a
pooled keep-alive connection. A container's 4xx/5xx comes back as SageMaker's `ModelError` (424).

`UpdateEndpoint` validates `DeploymentConfig` as SageMaker does (`local.engines.deployment`: canary at most 50% and
linear steps 10-50% of the new variant's instances, the documented ranges) and runs its
`BlueGreenUpdatePolicy` (default: blue/green all at once): start green,
health-check `/ping` (timeout: rollback), shift traffic (CANARY: `CanarySize` then the rest after
`WaitIntervalInSeconds`; LINEAR: steps; ALL_AT_ONCE), watch during every bake and the `TerminationWaitInSeconds`
(the `AutoRollbackConfiguration.Alarms` through CloudWatch `DescribeAlarms`, and green's 5xx/connection errors
counted by the router: the local stand-in for `Invocation5XXErrors`), then drain blue (in-flight requests finish)
and stop it with SIGTERM so its decision logger flushes. Status `Updating` throughout; on rollback `RollingBack`,
then `InService` on the old config with `FailureReason` saying why, blue serving all along.

Fault injection (`self.faults`, a `local.faults.Faults` the gateway shares; off unless configured): `failing_jobs`
run a stand-in process that writes `output/failure` and exits 1 (the normal failure path), `job_timeouts` a process
that hangs until the given seconds act as `MaxRuntimeInSeconds`; `unhealthy_models` get a corrupted `vw.model` in
the serving process's model directory (the real `serve` then fails to load it and the variant fails `/ping`);
`erroring_models` have every invocation answered as a 500 from the container without reaching it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from local.aws import client as aws_client
from local.aws import local_environment
from local.engines.deployment import (
    DEFAULT_POLICY,
    traffic_steps,
    validate_deployment,
    validate_variants,
    variant_instances,
)
from local.errors import AwsError
from local.faults import CORRUPT_MODEL_BYTES, Faults

REPO_ROOT = Path(__file__).resolve().parents[2]
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
ACCOUNT = "123456789012"
PING_TIMEOUT = float(os.environ.get("LOCAL_SAGEMAKER_PING_TIMEOUT", "60"))
STOP_GRACE = 30.0
WATCH_INTERVAL = 0.5
ERROR_RATE_THRESHOLD = 0.1
MIN_ERRORS = 3
_CALLER_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "VIRTUAL_ENV", "SYSTEMROOT")


def _now() -> float:
    return time.time()


def _arn(kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{kind}/{name.lower()}"


def _split_s3(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise AwsError("ValidationException", f"not an S3 URI: {uri}")
    return parsed.netloc, parsed.path.lstrip("/")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _require(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if value in (None, "", [], {}):
        raise AwsError(
            "ValidationException",
            f"1 validation error detected: Value null at '{name}' failed to satisfy constraint: "
            "Member must not be null",
        )
    return value


def _stop_process(process: subprocess.Popen[Any] | None, grace: float = STOP_GRACE) -> None:
    """SIGTERM (the container flushes its logs), then SIGKILL after `grace` seconds."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


# Training jobs -----------------------------------------------------------------------------------------------


@dataclass
class TrainingJob:
    name: str
    request: dict[str, Any]
    root: Path
    created: float
    status: str = "InProgress"
    secondary: str = "Starting"
    failure: str | None = None
    artifact: str | None = None
    started: float | None = None
    ended: float | None = None
    modified: float = 0.0
    transitions: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, tuple[float, float]] = field(default_factory=dict)
    process: subprocess.Popen[Any] | None = None
    stop_requested: bool = False

    def move(self, secondary: str, message: str, status: str | None = None) -> None:
        now = _now()
        if self.transitions and "EndTime" not in self.transitions[-1]:
            self.transitions[-1]["EndTime"] = now
        self.transitions.append({"Status": secondary, "StartTime": now, "StatusMessage": message})
        self.secondary = secondary
        if status:
            self.status = status
        self.modified = now


# Endpoints ---------------------------------------------------------------------------------------------------


def _closed_while_idle(error: BaseException) -> bool:
    """A pooled keep-alive connection the server had closed: the request never reached it, so a retry is safe.

    Anything else (a timeout above all) may come after the server acted on the request: a decision made and logged
    that the client never sees. Retrying that served the client a second decision and left the first in the log.
    """
    return isinstance(error, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError))


class _Pool:
    """Keep-alive HTTP connections to one serving process (one per concurrent caller, reused)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str], timeout: float
    ) -> tuple[int, dict[str, str], bytes]:
        for attempt in range(2):
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            fresh = conn is None
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            else:  # this call's timeout, not the one of the call that opened it (a 2 s health check)
                conn.timeout = timeout
                if conn.sock is not None:
                    conn.sock.settimeout(timeout)
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                result = (response.status, {k: v for k, v in response.getheaders()}, data)
            except (OSError, http.client.HTTPException) as error:
                conn.close()
                if fresh or attempt == 1 or not _closed_while_idle(error):
                    raise
                continue  # a pooled connection the server closed meanwhile: one retry on a fresh one
            if response.will_close:
                conn.close()
            else:
                with self._lock:
                    self._idle.append(conn)
            return result
        raise OSError("unreachable")

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


@dataclass
class Variant:
    """One production variant of one endpoint config: its serving process and the router's counters."""

    name: str
    model_name: str
    weight: float
    instance_count: int
    image: str
    root: Path
    port: int = 0
    process: subprocess.Popen[Any] | None = None
    pool: _Pool | None = None
    invocations: int = 0
    errors: int = 0
    in_flight: int = 0
    inject_errors: bool = False

    def describe(self, current_weight: float) -> dict[str, Any]:
        return {
            "VariantName": self.name,
            "DeployedImages": [{"SpecifiedImage": self.image, "ResolvedImage": self.image, "ResolutionTime": _now()}],
            "CurrentWeight": current_weight,
            "DesiredWeight": self.weight,
            "CurrentInstanceCount": self.instance_count,
            "DesiredInstanceCount": self.instance_count,
        }


@dataclass
class Fleet:
    """The processes of one endpoint config (blue or green)."""

    config_name: str
    variants: list[Variant]
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pick(self) -> Variant:
        """A variant by its weight (SageMaker splits an endpoint's traffic by variant weights)."""
        if len(self.variants) == 1:
            return self.variants[0]
        weights = [v.weight for v in self.variants]
        if not any(weights):
            weights = [1.0] * len(self.variants)
        return random.choices(self.variants, weights=weights)[0]

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
    pending: dict[str, Any] | None = None
    last_deployment: dict[str, Any] | None = None
    tags: list[dict[str, str]] = field(default_factory=list)
    update_thread: threading.Thread | None = None
    deleted: bool = False


class _Rollback(Exception):
    """Why a blue/green update is rolled back (the endpoint's FailureReason)."""


class SageMakerEngine:
    """SageMaker's control plane for training jobs, models, endpoint configs and endpoints, plus InvokeEndpoint."""

    operations = frozenset(
        {
            "CreateTrainingJob",
            "DescribeTrainingJob",
            "ListTrainingJobs",
            "StopTrainingJob",
            "CreateModel",
            "DescribeModel",
            "DeleteModel",
            "ListModels",
            "CreateEndpointConfig",
            "DescribeEndpointConfig",
            "DeleteEndpointConfig",
            "ListEndpointConfigs",
            "CreateEndpoint",
            "DescribeEndpoint",
            "UpdateEndpoint",
            "DeleteEndpoint",
            "ListEndpoints",
            "AddTags",
            "ListTags",
            "DeleteTags",
        }
    )

    def __init__(
        self,
        state_dir: Path,
        endpoint_url: str,
        container_module: str | None = None,
        python: str = sys.executable,
        ping_timeout: float = PING_TIMEOUT,
        watch_interval: float = WATCH_INTERVAL,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.endpoint_url = endpoint_url
        self.container_module = container_module or os.environ.get("LOCAL_SAGEMAKER_CONTAINER_MODULE", "container")
        self.python = python
        self.ping_timeout = ping_timeout
        self.watch_interval = watch_interval
        self._lock = threading.RLock()
        self._jobs: dict[str, TrainingJob] = {}
        self._models: dict[str, dict[str, Any]] = {}
        self._configs: dict[str, dict[str, Any]] = {}
        self._endpoints: dict[str, Endpoint] = {}
        self._tags: dict[str, list[dict[str, str]]] = {}
        self._clients: dict[str, Any] = {}
        self._closing = threading.Event()
        self.faults = Faults()
        self.iam: Any = None
        """The gateway's `local.iam.authorizer.Authorizer`: what the job's / model's role may do (None: no checks)."""
        self.images: dict[str, Path] = {}
        """Image tag -> the image's program directory (its `/opt/program`: `container/` and `contract/`, staged by
        the synth as the image asset's build context), registered by the provisioner (`register_image`)."""

    # Plumbing ---------------------------------------------------------------------------------------------------

    def _client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = aws_client(service, self.endpoint_url)
            return self._clients[service]

    def dispatch(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        handler = getattr(self, "_op_" + operation, None)
        if handler is None or operation not in self.operations:
            raise AwsError(
                "ValidationException", f"operation {operation} is not supported by the local SageMaker engine"
            )
        return handler(params or {})

    def register_image(self, tag: str, program_dir: Path) -> None:
        """What an image tagged `tag` runs: the code under `program_dir`, laid out as the image's `/opt/program`."""
        self.images[tag] = Path(program_dir)

    def _program_dir(self, image: str) -> Path:
        """The image's `/opt/program` (its WORKDIR and PYTHONPATH): the registered asset of the image's tag, so a job
        or an endpoint imports `container` and `contract` from what the image holds. An engine no stack registered
        images with (the engine's own tests) runs the repository's tree."""
        name = image.rsplit("/", 1)[-1]
        tag = name.rsplit(":", 1)[-1] if ":" in name else ""
        return self.images.get(tag, REPO_ROOT)

    def _base_env(self, program_dir: Path = REPO_ROOT) -> dict[str, str]:
        """What a SageMaker instance gives every container before the request's own environment: no region.

        SageMaker sets no `AWS_REGION`/`AWS_DEFAULT_REGION` for the container (a model or job that needs one names it
        in its `Environment`), so neither is set here. The gateway's URL (`AWS_ENDPOINT_URL`) and the local
        credentials stand for what the instance's network and execution role (instance metadata) provide on AWS;
        the rest is this machine's process plumbing (PATH, the repository on PYTHONPATH, unbuffered output).
        """
        env = {k: os.environ[k] for k in _CALLER_ENV if k in os.environ}
        gateway = local_environment(self.endpoint_url)
        env["AWS_ENDPOINT_URL"] = gateway["AWS_ENDPOINT_URL"]
        env["AWS_ACCESS_KEY_ID"] = os.environ.get("AWS_ACCESS_KEY_ID", gateway["AWS_ACCESS_KEY_ID"])
        env["AWS_SECRET_ACCESS_KEY"] = os.environ.get("AWS_SECRET_ACCESS_KEY", gateway["AWS_SECRET_ACCESS_KEY"])
        # No profile or config file of this machine's user either: it could carry a region the instance has not.
        env["AWS_CONFIG_FILE"] = os.devnull
        env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(program_dir), os.environ.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        return env

    def _download(self, uri: str, target: Path) -> int:
        """An S3 prefix or object into `target` (relative paths below the prefix kept); the number of files."""
        bucket, prefix = _split_s3(uri)
        s3 = self._client("s3")
        target.mkdir(parents=True, exist_ok=True)
        count = 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if key.endswith("/"):
                    continue
                relative = key[len(prefix) :].lstrip("/") if key != prefix else key.rsplit("/", 1)[-1]
                if not relative:
                    relative = key.rsplit("/", 1)[-1]
                path = target / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, key, str(path))
                count += 1
        return count

    def close(self) -> None:
        """Stop every training job and serving process."""
        self._closing.set()
        with self._lock:
            jobs = list(self._jobs.values())
            endpoints = list(self._endpoints.values())
        for job in jobs:
            job.stop_requested = True
            _stop_process(job.process, 5)
        threads = []
        for endpoint in endpoints:
            for fleet in (endpoint.green, endpoint.blue):
                if fleet is not None:
                    thread = threading.Thread(target=self._stop_fleet, args=(fleet,), daemon=True)
                    thread.start()
                    threads.append(thread)
        for thread in threads:
            thread.join(STOP_GRACE + 10)

    # Training jobs ----------------------------------------------------------------------------------------------

    def _op_CreateTrainingJob(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _require(params, "TrainingJobName")
        _require(params, "AlgorithmSpecification")
        _require(params, "OutputDataConfig")
        if not re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name):
            raise AwsError("ValidationException", f"Value '{name}' at 'trainingJobName' failed to satisfy constraint")
        with self._lock:
            if name in self._jobs:
                raise AwsError(
                    "ResourceInUse",
                    f"Training job names must be unique within an AWS account and region, and a training job with "
                    f"this name already exists ({_arn('training-job', name)})",
                )
            root = self.state_dir / "jobs" / name
            shutil.rmtree(root, ignore_errors=True)
            job = TrainingJob(name=name, request=json.loads(json.dumps(params)), root=root, created=_now())
            job.move("Starting", "Preparing the instances for training")
            self._jobs[name] = job
            if params.get("Tags"):
                self._tags[_arn("training-job", name)] = list(params["Tags"])
        threading.Thread(target=self._run_job, args=(job,), name=f"training-{name}", daemon=True).start()
        return {"TrainingJobArn": _arn("training-job", name)}

    def _job(self, params: dict[str, Any]) -> TrainingJob:
        name = _require(params, "TrainingJobName")
        with self._lock:
            job = self._jobs.get(name)
        if job is None:
            raise AwsError("ResourceNotFound", "Requested resource not found.")
        return job

    def _op_DescribeTrainingJob(self, params: dict[str, Any]) -> dict[str, Any]:
        job = self._job(params)
        with self._lock:
            request = job.request
            spec = request["AlgorithmSpecification"]
            described: dict[str, Any] = {
                "TrainingJobName": job.name,
                "TrainingJobArn": _arn("training-job", job.name),
                "ModelArtifacts": {"S3ModelArtifacts": job.artifact or self._artifact_uri(job)},
                "TrainingJobStatus": job.status,
                "SecondaryStatus": job.secondary,
                "HyperParameters": dict(request.get("HyperParameters") or {}),
                "AlgorithmSpecification": {"TrainingInputMode": "File", **spec},
                "RoleArn": request.get("RoleArn", ""),
                "InputDataConfig": request.get("InputDataConfig") or [],
                "OutputDataConfig": request["OutputDataConfig"],
                "ResourceConfig": request.get("ResourceConfig") or {},
                "StoppingCondition": request.get("StoppingCondition") or {},
                "CreationTime": job.created,
                "LastModifiedTime": job.modified or job.created,
                "SecondaryStatusTransitions": [dict(t) for t in job.transitions],
                "EnableNetworkIsolation": bool(request.get("EnableNetworkIsolation", False)),
                "EnableInterContainerTrafficEncryption": False,
                "EnableManagedSpotTraining": False,
            }
            if request.get("Environment"):
                described["Environment"] = request["Environment"]
            if job.failure:
                described["FailureReason"] = job.failure
            if job.started is not None:
                described["TrainingStartTime"] = job.started
            if job.ended is not None:
                described["TrainingEndTime"] = job.ended
                seconds = max(1, int(job.ended - (job.started or job.created)))
                described["TrainingTimeInSeconds"] = seconds
                described["BillableTimeInSeconds"] = seconds
            if job.metrics:
                described["FinalMetricDataList"] = [
                    {"MetricName": metric, "Value": value, "Timestamp": stamp}
                    for metric, (value, stamp) in job.metrics.items()
                ]
        return described

    @staticmethod
    def _artifact_uri(job: TrainingJob) -> str:
        return job.request["OutputDataConfig"]["S3OutputPath"].rstrip("/") + f"/{job.name}/output/model.tar.gz"

    def _op_ListTrainingJobs(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            jobs = list(self._jobs.values())
        if params.get("StatusEquals"):
            jobs = [j for j in jobs if j.status == params["StatusEquals"]]
        if params.get("NameContains"):
            jobs = [j for j in jobs if params["NameContains"] in j.name]
        if params.get("CreationTimeAfter") is not None:
            jobs = [j for j in jobs if j.created > float(params["CreationTimeAfter"])]
        if params.get("CreationTimeBefore") is not None:
            jobs = [j for j in jobs if j.created < float(params["CreationTimeBefore"])]
        key = {"Name": lambda j: j.name, "Status": lambda j: j.status}.get(
            params.get("SortBy", ""), lambda j: j.created
        )
        jobs.sort(key=key, reverse=params.get("SortOrder", "Descending") == "Descending")
        summaries = []
        for job in jobs:
            summary = {
                "TrainingJobName": job.name,
                "TrainingJobArn": _arn("training-job", job.name),
                "CreationTime": job.created,
                "LastModifiedTime": job.modified or job.created,
                "TrainingJobStatus": job.status,
            }
            if job.ended is not None:
                summary["TrainingEndTime"] = job.ended
            summaries.append(summary)
        return self._page(summaries, params, "TrainingJobSummaries")

    @staticmethod
    def _page(items: list[Any], params: dict[str, Any], key: str) -> dict[str, Any]:
        offset = int(params.get("NextToken") or 0)
        limit = int(params.get("MaxResults") or 10)
        answer: dict[str, Any] = {key: items[offset : offset + limit]}
        if offset + limit < len(items):
            answer["NextToken"] = str(offset + limit)
        return answer

    def _op_StopTrainingJob(self, params: dict[str, Any]) -> dict[str, Any]:
        job = self._job(params)
        with self._lock:
            if job.status != "InProgress":
                raise AwsError("ValidationException", f"The training job {job.name} is not in progress: {job.status}")
            job.stop_requested = True
            job.status = "Stopping"
            job.move("Stopping", "Stopping the training job")
            process = job.process
        if process is not None:
            threading.Thread(target=_stop_process, args=(process, 10), daemon=True).start()
        return {}

    def _run_job(self, job: TrainingJob) -> None:
        ml = job.root / "ml"
        try:
            self._authorize_job(job.request)
            self._prepare_job(job, ml)
            if job.stop_requested:
                raise _Stopped()
            code, timed_out = self._train(job, ml)
            if job.stop_requested or timed_out:
                raise _Stopped(timed_out)
            if code != 0:
                failure = ml / "output" / "failure"
                text = failure.read_text(errors="replace").strip()[:1024] if failure.exists() else ""
                if not text:
                    tail = (job.root / "output.log").read_text(errors="replace").strip().splitlines()[-5:]
                    text = f"ExecuteUserScriptError: exit code {code}: " + " | ".join(tail)
                raise _JobFailed(f"AlgorithmError: {text}"[:1024])
            with self._lock:
                job.move("Uploading", "Uploading generated training model")
            job.artifact = self._upload_model(job, ml)
            with self._lock:
                job.ended = _now()
                job.move("Completed", "Training job completed", status="Completed")
        except _Stopped as stop:
            with self._lock:
                job.ended = _now()
                if stop.timed_out:
                    job.failure = "Training job reached the maximum runtime (StoppingCondition.MaxRuntimeInSeconds)"
                    job.move("MaxRuntimeExceeded", job.failure, status="Stopped")
                else:
                    job.move("Stopped", "Training job stopped", status="Stopped")
        except _JobFailed as failed:
            with self._lock:
                job.failure, job.ended = str(failed), _now()
                job.move("Failed", "Training job failed", status="Failed")
        except AwsError as err:
            with self._lock:
                job.failure, job.ended = f"ClientError: {err.message}", _now()
                job.move("Failed", "Training job failed", status="Failed")
        except Exception as err:  # S3 trouble or a bug here: the job fails with the reason, the engine goes on
            with self._lock:
                job.failure, job.ended = f"ClientError: {type(err).__name__}: {err}"[:1024], _now()
                job.move("Failed", "Training job failed", status="Failed")

    def _prepare_job(self, job: TrainingJob, ml: Path) -> None:
        request = job.request
        with self._lock:
            job.move("Downloading", "Downloading input data")
        config = ml / "input" / "config"
        config.mkdir(parents=True, exist_ok=True)
        (ml / "model").mkdir(parents=True, exist_ok=True)
        (ml / "output").mkdir(parents=True, exist_ok=True)
        (config / "hyperparameters.json").write_text(json.dumps(request.get("HyperParameters") or {}))
        channels = request.get("InputDataConfig") or []
        (config / "inputdataconfig.json").write_text(
            json.dumps({c["ChannelName"]: {k: v for k, v in c.items() if k != "ChannelName"} for c in channels})
        )
        (config / "resourceconfig.json").write_text(
            json.dumps({"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"})
        )
        for channel in channels:
            source = (channel.get("DataSource") or {}).get("S3DataSource") or {}
            uri = source.get("S3Uri")
            if not uri:
                raise _JobFailed(f"ClientError: channel {channel.get('ChannelName')} has no S3DataSource.S3Uri")
            count = self._download(uri, ml / "input" / "data" / channel["ChannelName"])
            if count == 0:
                raise _JobFailed(
                    f'ClientError: No S3 objects found under S3 URL "{uri}" given in input data source. Please ensure '
                    "that the bucket exists in the selected region, that objects exist under that S3 prefix, and "
                    "that the role has permission to access the bucket."
                )

    def _train(self, job: TrainingJob, ml: Path) -> tuple[int, bool]:
        request = job.request
        spec = request["AlgorithmSpecification"]
        entry = list(spec.get("ContainerEntrypoint") or []) + list(spec.get("ContainerArguments") or [])
        if not entry:
            entry = ["train"]
        if entry[0] in ("python", "python3"):
            command = [self.python, *entry[1:]]
        else:
            command = [self.python, "-m", self.container_module, *entry]
        fault = self.faults.job_fault(job.name)
        limit_override: float | None = None
        if fault is not None:
            command, limit_override = self._faulty_command(fault)
        program_dir = self._program_dir(str(spec.get("TrainingImage", "")))
        env = self._base_env(program_dir)
        env.update({k: str(v) for k, v in (request.get("Environment") or {}).items()})
        # SageMaker's own variables for a training container ("How Amazon SageMaker Provides Training Information"):
        # TRAINING_JOB_NAME and TRAINING_JOB_ARN. The SM_* variables (SM_MODEL_DIR, SM_CHANNEL_*, ...) come from the
        # SageMaker Training Toolkit inside framework images, not from the platform, so a bare image gets none;
        # SM_ML_ROOT only moves /opt/ml to this job's directory.
        env.update(self._role_credentials(str(request.get("RoleArn", ""))))
        env.update(
            {
                "SM_ML_ROOT": str(ml),
                "TRAINING_JOB_NAME": job.name,
                "TRAINING_JOB_ARN": _arn("training-job", job.name),
            }
        )
        patterns = [(d["Name"], re.compile(d["Regex"])) for d in spec.get("MetricDefinitions") or [] if d.get("Name")]
        limit = (request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
        if limit_override is not None:
            limit = limit_override
        with self._lock:
            job.started = _now()
            job.move("Training", "Training image download completed. Training in progress.")
            job.process = subprocess.Popen(
                command,
                cwd=program_dir,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            process = job.process
        timed_out = threading.Event()

        def on_timeout() -> None:
            timed_out.set()
            _stop_process(process, 10)

        timer = threading.Timer(float(limit), on_timeout) if limit else None
        if timer:
            timer.daemon = True
            timer.start()
        assert process.stdout is not None
        with open(job.root / "output.log", "wb") as log:
            for raw in process.stdout:
                log.write(raw)
                log.flush()
                if patterns:
                    line = raw.decode(errors="replace")
                    for name, pattern in patterns:
                        match = pattern.search(line)
                        if match:
                            with contextlib.suppress(ValueError, IndexError):
                                value = float(match.group(1) if match.groups() else match.group(0))
                                with self._lock:
                                    job.metrics[name] = (value, _now())
        code = process.wait()
        if timer:
            timer.cancel()
        return code, timed_out.is_set()

    def _faulty_command(self, fault: tuple[str, float]) -> tuple[list[str], float | None]:
        """The process an injected job fault runs instead of the container, and the runtime limit it imposes."""
        kind, seconds = fault
        if kind == "timeout":
            return [self.python, "-c", "import time; time.sleep(3600)"], seconds
        script = (
            "import os, sys, time; time.sleep(0.2); "
            "open(os.path.join(os.environ['SM_ML_ROOT'], 'output', 'failure'), 'w')"
            ".write('injected fault: the job failed mid-run (local fault injection)'); sys.exit(1)"
        )
        return [self.python, "-c", script], None

    def _upload_model(self, job: TrainingJob, ml: Path) -> str:
        uri = self._artifact_uri(job)
        archive = job.root / "model.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            for path in sorted((ml / "model").iterdir()):
                tar.add(path, arcname=path.name)
        bucket, key = _split_s3(uri)
        self._client("s3").upload_file(str(archive), bucket, key)
        return uri

    # Models and endpoint configs ------------------------------------------------------------------------------

    def _op_CreateModel(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _require(params, "ModelName")
        container = params.get("PrimaryContainer") or (params.get("Containers") or [None])[0]
        if not container:
            raise AwsError("ValidationException", "PrimaryContainer or Containers is required")
        arn = _arn("model", name)
        with self._lock:
            if name in self._models:
                raise AwsError("ValidationException", f'Cannot create already existing model "{arn}".')
            self._models[name] = {
                "ModelName": name,
                "PrimaryContainer": container,
                "ExecutionRoleArn": params.get("ExecutionRoleArn", ""),
                "CreationTime": _now(),
                "ModelArn": arn,
                "EnableNetworkIsolation": bool(params.get("EnableNetworkIsolation", False)),
            }
            if params.get("Tags"):
                self._tags[arn] = list(params["Tags"])
        return {"ModelArn": arn}

    def _model(self, name: str) -> dict[str, Any]:
        with self._lock:
            model = self._models.get(name)
        if model is None:
            raise AwsError("ValidationException", f'Could not find model "{_arn("model", name)}".')
        return model

    def _op_DescribeModel(self, params: dict[str, Any]) -> dict[str, Any]:
        return json.loads(json.dumps(self._model(_require(params, "ModelName"))))

    def _op_DeleteModel(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _require(params, "ModelName")
        self._model(name)
        with self._lock:
            self._models.pop(name, None)
        return {}

    def _op_ListModels(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            models = sorted(self._models.values(), key=lambda m: m["CreationTime"], reverse=True)
        if params.get("NameContains"):
            models = [m for m in models if params["NameContains"] in m["ModelName"]]
        summaries = [{k: m[k] for k in ("ModelName", "ModelArn", "CreationTime")} for m in models]
        return self._page(summaries, params, "Models")

    def _op_CreateEndpointConfig(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _require(params, "EndpointConfigName")
        variants = _require(params, "ProductionVariants")
        validate_variants(variants)
        for variant in variants:
            self._model(variant.get("ModelName", ""))
        arn = _arn("endpoint-config", name)
        with self._lock:
            if name in self._configs:
                raise AwsError("ValidationException", f'Cannot create already existing endpoint configuration "{arn}".')
            self._configs[name] = {
                "EndpointConfigName": name,
                "EndpointConfigArn": arn,
                "ProductionVariants": variants,
                "CreationTime": _now(),
            }
            if params.get("Tags"):
                self._tags[arn] = list(params["Tags"])
        return {"EndpointConfigArn": arn}

    def _config(self, name: str) -> dict[str, Any]:
        with self._lock:
            config = self._configs.get(name)
        if config is None:
            raise AwsError(
                "ValidationException", f'Could not find endpoint configuration "{_arn("endpoint-config", name)}".'
            )
        return config

    def _op_DescribeEndpointConfig(self, params: dict[str, Any]) -> dict[str, Any]:
        return json.loads(json.dumps(self._config(_require(params, "EndpointConfigName"))))

    def _op_DeleteEndpointConfig(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _require(params, "EndpointConfigName")
        self._config(name)
        with self._lock:
            self._configs.pop(name, None)
        return {}

    def _op_ListEndpointConfigs(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            configs = sorted(self._configs.values(), key=lambda c: c["CreationTime"], reverse=True)
        if params.get("NameContains"):
            configs = [c for c in configs if params["NameContains"] in c["EndpointConfigName"]]
        summaries = [{k: c[k] for k in ("EndpointConfigName", "EndpointConfigArn", "CreationTime")} for c in configs]
        return self._page(summaries, params, "EndpointConfigs")

    # Tags ---------------------------------------------------------------------------------------------------

    def _op_AddTags(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = _require(params, "ResourceArn")
        tags = params.get("Tags") or []
        with self._lock:
            current = {t["Key"]: t for t in self._tags.get(arn, [])}
            current.update({t["Key"]: t for t in tags})
            self._tags[arn] = list(current.values())
        return {"Tags": tags}

    def _op_ListTags(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return {"Tags": list(self._tags.get(_require(params, "ResourceArn"), []))}

    def _op_DeleteTags(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = _require(params, "ResourceArn")
        keys = set(params.get("TagKeys") or [])
        with self._lock:
            self._tags[arn] = [t for t in self._tags.get(arn, []) if t["Key"] not in keys]
        return {}

    # Endpoints ------------------------------------------------------------------------------------------------

    def _endpoint(self, name: str) -> Endpoint:
        with self._lock:
            endpoint = self._endpoints.get(name)
        if endpoint is None or endpoint.deleted:
            raise AwsError("ValidationException", f'Could not find endpoint "{_arn("endpoint", name)}".')
        return endpoint

    def _op_CreateEndpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _require(params, "EndpointName")
        config_name = _require(params, "EndpointConfigName")
        config = self._config(config_name)
        if params.get("DeploymentConfig"):  # the policy for later updates: refused now if SageMaker would
            validate_deployment(params["DeploymentConfig"], config["ProductionVariants"])
        arn = _arn("endpoint", name)
        with self._lock:
            existing = self._endpoints.get(name)
            if existing is not None and not existing.deleted:
                raise AwsError("ValidationException", f'Cannot create already existing endpoint "{arn}".')
            endpoint = Endpoint(name=name, config_name=config_name, created=_now())
            endpoint.modified = endpoint.created
            endpoint.tags = list(params.get("Tags") or [])
            if endpoint.tags:
                self._tags[arn] = endpoint.tags
            self._endpoints[name] = endpoint
        thread = threading.Thread(target=self._create_endpoint, args=(endpoint,), name=f"endpoint-{name}", daemon=True)
        endpoint.update_thread = thread
        thread.start()
        return {"EndpointArn": arn}

    def _create_endpoint(self, endpoint: Endpoint) -> None:
        fleet: Fleet | None = None
        try:
            fleet = self._start_fleet(endpoint, endpoint.config_name)
            self._await_healthy(fleet, self.ping_timeout)
            with self._lock:
                endpoint.blue, endpoint.status, endpoint.modified = fleet, "InService", _now()
        except Exception as err:  # the endpoint fails with the reason; nothing keeps running
            if fleet is not None:
                self._stop_fleet(fleet)
            with self._lock:
                endpoint.status, endpoint.failure, endpoint.modified = "Failed", str(err), _now()

    def _op_DescribeEndpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        endpoint = self._endpoint(_require(params, "EndpointName"))
        with self._lock:
            described: dict[str, Any] = {
                "EndpointName": endpoint.name,
                "EndpointArn": _arn("endpoint", endpoint.name),
                "EndpointConfigName": endpoint.config_name,
                "EndpointStatus": endpoint.status,
                "CreationTime": endpoint.created,
                "LastModifiedTime": endpoint.modified,
            }
            if endpoint.blue is not None:
                share = 1.0 - endpoint.green_share
                described["ProductionVariants"] = self._variants_view(endpoint.blue, share)
            if endpoint.failure:
                described["FailureReason"] = endpoint.failure
            if endpoint.last_deployment is not None:
                described["LastDeploymentConfig"] = endpoint.last_deployment
            if endpoint.pending is not None:
                pending = dict(endpoint.pending)
                if endpoint.green is not None:
                    pending["ProductionVariants"] = [
                        {**v, "VariantStatus": pending.get("VariantStatus", [])}
                        for v in self._variants_view(endpoint.green, endpoint.green_share)
                    ]
                pending.pop("VariantStatus", None)
                described["PendingDeploymentSummary"] = pending
        return described

    @staticmethod
    def _variants_view(fleet: Fleet, share: float) -> list[dict[str, Any]]:
        return [v.describe(round(share * v.weight, 6)) for v in fleet.variants]

    def _op_ListEndpoints(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            endpoints = [e for e in self._endpoints.values() if not e.deleted]
        if params.get("StatusEquals"):
            endpoints = [e for e in endpoints if e.status == params["StatusEquals"]]
        if params.get("NameContains"):
            endpoints = [e for e in endpoints if params["NameContains"] in e.name]
        endpoints.sort(key=lambda e: e.created, reverse=params.get("SortOrder", "Descending") == "Descending")
        summaries = [
            {
                "EndpointName": e.name,
                "EndpointArn": _arn("endpoint", e.name),
                "CreationTime": e.created,
                "LastModifiedTime": e.modified,
                "EndpointStatus": e.status,
            }
            for e in endpoints
        ]
        return self._page(summaries, params, "Endpoints")

    def _op_DeleteEndpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        endpoint = self._endpoint(_require(params, "EndpointName"))
        with self._lock:
            endpoint.deleted = True
            endpoint.status = "Deleting"
            fleets = [f for f in (endpoint.green, endpoint.blue) if f is not None]
            endpoint.green = endpoint.blue = None
        for fleet in fleets:
            threading.Thread(target=self._stop_fleet, args=(fleet,), daemon=True).start()
        return {}

    def _op_UpdateEndpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        endpoint = self._endpoint(_require(params, "EndpointName"))
        config_name = _require(params, "EndpointConfigName")
        config = self._config(config_name)
        deployment = validate_deployment(params.get("DeploymentConfig") or DEFAULT_POLICY, config["ProductionVariants"])
        with self._lock:
            if endpoint.status != "InService":
                raise AwsError(
                    "ValidationException", f'Cannot update in-progress endpoint "{_arn("endpoint", endpoint.name)}".'
                )
            endpoint.status, endpoint.failure, endpoint.modified = "Updating", None, _now()
            endpoint.last_deployment = json.loads(json.dumps(deployment))
            endpoint.pending = {
                "EndpointConfigName": config_name,
                "StartTime": _now(),
                "VariantStatus": [
                    {"Status": "Creating", "StatusMessage": "Launching the green fleet", "StartTime": _now()}
                ],
            }
            thread = threading.Thread(
                target=self._blue_green,
                args=(endpoint, config_name, deployment),
                name=f"update-{endpoint.name}",
                daemon=True,
            )
            endpoint.update_thread = thread
        thread.start()
        return {"EndpointArn": _arn("endpoint", endpoint.name)}

    def _variant_status(self, endpoint: Endpoint, status: str, message: str) -> None:
        with self._lock:
            if endpoint.pending is not None:
                endpoint.pending["VariantStatus"] = [{"Status": status, "StatusMessage": message, "StartTime": _now()}]
            endpoint.modified = _now()

    def _blue_green(self, endpoint: Endpoint, config_name: str, deployment: dict[str, Any]) -> None:
        policy = deployment.get("BlueGreenUpdatePolicy") or {}
        routing = policy.get("TrafficRoutingConfiguration") or {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}
        termination_wait = float(policy.get("TerminationWaitInSeconds", 0))
        deadline = time.monotonic() + float(policy.get("MaximumExecutionTimeoutInSeconds", 28800))
        alarms = [a["AlarmName"] for a in (deployment.get("AutoRollbackConfiguration") or {}).get("Alarms", [])]
        green: Fleet | None = None
        try:
            green = self._start_fleet(endpoint, config_name)
            with self._lock:
                endpoint.green = green
            try:
                self._await_healthy(green, min(self.ping_timeout, max(1.0, deadline - time.monotonic())))
            except RuntimeError as err:
                raise _Rollback(str(err)) from None
            for share, wait in traffic_steps(
                routing, variant_instances(self._config(config_name)["ProductionVariants"][0])
            ):
                with self._lock:
                    endpoint.green_share = share
                self._variant_status(
                    endpoint, "ActivatingTraffic" if share < 1.0 else "Baking", f"{share * 100:g}% of traffic on green"
                )
                self._bake(endpoint, green, alarms, wait, deadline)
            self._bake(endpoint, green, alarms, termination_wait, deadline)
        except _Rollback as why:
            self._roll_back(endpoint, green, str(why))
            return
        except Exception as err:  # the green fleet could not even start (model download, bad config): roll back
            self._roll_back(endpoint, green, f"{type(err).__name__}: {err}")
            return
        with self._lock:
            blue, endpoint.blue, endpoint.green = endpoint.blue, green, None
            endpoint.green_share = 0.0
            endpoint.config_name = config_name
            endpoint.modified = _now()
        if blue is not None:
            self._variant_status(endpoint, "Deleting", "Draining and terminating the blue fleet")
            self._drain(blue)
            self._stop_fleet(blue)
        with self._lock:
            endpoint.pending = None
            endpoint.status, endpoint.modified = "InService", _now()

    def _bake(self, endpoint: Endpoint, green: Fleet, alarms: list[str], seconds: float, deadline: float) -> None:
        """Watch alarms and green's error rate for `seconds`; raise `_Rollback` when either says so."""
        end = time.monotonic() + seconds
        while True:
            if self._closing.is_set():
                raise _Rollback("the local runtime is shutting down")
            if endpoint.deleted:
                raise _Rollback("the endpoint was deleted")
            self._check(green, alarms)
            if time.monotonic() >= deadline:
                raise _Rollback("the deployment exceeded MaximumExecutionTimeoutInSeconds")
            remaining = end - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(self.watch_interval, remaining))

    def _check(self, green: Fleet, alarms: list[str]) -> None:
        invocations, errors, _ = green.counts()
        if errors >= MIN_ERRORS and errors >= ERROR_RATE_THRESHOLD * max(1, invocations):
            raise _Rollback(
                f"Invocation5XXErrors on the new endpoint configuration {green.config_name}: {errors} errors in "
                f"{invocations} invocations"
            )
        for variant in green.variants:
            if variant.process is not None and variant.process.poll() is not None:
                raise _Rollback(
                    f"the container of production variant {variant.name} of {green.config_name} exited with "
                    f"code {variant.process.returncode}"
                )
        if alarms:
            self._authorize_alarms(green, alarms)
            try:
                answer = self._client("cloudwatch").describe_alarms(AlarmNames=alarms)
            except Exception:  # CloudWatch unreachable: the alarm check is skipped this round, like a missing datapoint
                return
            firing = [a["AlarmName"] for a in answer.get("MetricAlarms", []) if a.get("StateValue") == "ALARM"]
            if firing:
                raise _Rollback(f"alarm(s) {', '.join(sorted(firing))} in ALARM state")

    def _roll_back(self, endpoint: Endpoint, green: Fleet | None, reason: str) -> None:
        with self._lock:
            endpoint.status = "RollingBack"
            endpoint.green_share = 0.0
            endpoint.modified = _now()
        if green is not None:
            self._drain(green)
            self._stop_fleet(green)
        with self._lock:
            endpoint.green = None
            endpoint.pending = None
            endpoint.failure = f"Update rolled back to endpoint configuration {endpoint.config_name}: {reason}"
            endpoint.status = "InService" if not endpoint.deleted else "Deleting"
            endpoint.modified = _now()

    # The roles SageMaker acts as (local.iam) -------------------------------------------------------------------

    def _role_denial(self, role_arn: str, checks: list[Any]) -> str | None:
        """The AccessDenied message of the first check `role_arn` fails, or None (also when IAM is not loaded)."""
        if self.iam is None or not role_arn:
            return None
        from local.iam.authorizer import AccessDenied, Identity

        try:
            self.iam.authorize(Identity(role_arn, "SageMaker"), checks)
        except AccessDenied as denied:
            return denied.message
        return None

    @staticmethod
    def _image_checks(image: str) -> list[Any]:
        """What pulling an ECR image takes: the execution role must "download a Docker image" (CreateTrainingJob
        `RoleArn`, https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTrainingJob.html), which is
        these four ECR actions (the ones CDK's `grant_pull` gives)."""
        from local.iam.requests import Check

        match = re.fullmatch(r"(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com[^/]*/([^:@]+).*", image or "")
        if not match:
            return []
        account, region, repository = match.groups()
        arn = f"arn:aws:ecr:{region}:{account}:repository/{repository}"
        return [
            Check("ecr:GetAuthorizationToken", "*"),
            Check("ecr:BatchCheckLayerAvailability", arn),
            Check("ecr:GetDownloadUrlForLayer", arn),
            Check("ecr:BatchGetImage", arn),
        ]

    @staticmethod
    def _read_checks(uri: str) -> list[Any]:
        """Reading an S3 prefix or object as SageMaker does: list the prefix, get the objects."""
        from local.iam.requests import Check

        bucket, key = _split_s3(uri)
        return [
            Check("s3:ListBucket", f"arn:aws:s3:::{bucket}", {"s3:prefix": key}),
            Check("s3:GetObject", f"arn:aws:s3:::{bucket}/{key}"),
        ]

    def _authorize_job(self, request: dict[str, Any]) -> None:
        """The job's RoleArn must pull the training image, read every input channel and write the model artifact;
        SageMaker fails the job with the AccessDenied otherwise."""
        from local.iam.requests import Check

        checks = self._image_checks(str((request.get("AlgorithmSpecification") or {}).get("TrainingImage", "")))
        for channel in request.get("InputDataConfig") or []:
            uri = ((channel.get("DataSource") or {}).get("S3DataSource") or {}).get("S3Uri")
            if uri:
                checks.extend(self._read_checks(uri))
        output = str((request.get("OutputDataConfig") or {}).get("S3OutputPath", "")).rstrip("/")
        if output:
            bucket, prefix = _split_s3(output)
            key = f"{prefix}/{request.get('TrainingJobName', '')}/output/model.tar.gz".lstrip("/")
            checks.append(Check("s3:PutObject", f"arn:aws:s3:::{bucket}/{key}"))
        denial = self._role_denial(str(request.get("RoleArn", "")), checks)
        if denial:
            raise _JobFailed(f"ClientError: {denial}")

    def _authorize_model(self, model: dict[str, Any]) -> None:
        """A variant's model: its ExecutionRoleArn must pull the image and read ModelDataUrl, else the fleet fails
        to start (CreateEndpoint fails, UpdateEndpoint rolls back) with the AccessDenied."""
        container = model.get("PrimaryContainer") or {}
        checks = self._image_checks(str(container.get("Image", "")))
        if container.get("ModelDataUrl"):
            checks.extend(self._read_checks(str(container["ModelDataUrl"])))
        denial = self._role_denial(str(model.get("ExecutionRoleArn", "")), checks)
        if denial:
            raise RuntimeError(f"Failed to start model {model.get('ModelName')}: {denial}")

    def _execution_credentials(self, model_name: str) -> dict[str, str]:
        """The serving container calls AWS (Firehose PutRecordBatch) with the model's execution role."""
        return self._role_credentials(str(self._model(model_name).get("ExecutionRoleArn", "")))

    def _role_credentials(self, role: str) -> dict[str, str]:
        """A container's AWS credentials: the role SageMaker runs it as (a training job's RoleArn, a model's
        ExecutionRoleArn), so whatever it calls through the gateway is checked against that role."""
        if self.iam is None or not role:
            return {}
        return dict(self.iam.credentials_for(role, "SageMaker"))

    def _authorize_alarms(self, green: Fleet, alarms: list[str]) -> None:
        """Auto-rollback reads the alarms with the execution role ("Ensure that your IAM execution role has
        permission to perform the cloudwatch:DescribeAlarms action on the auto-rollback alarms you specify":
        "Auto-Rollback Configuration and Monitoring", https://docs.aws.amazon.com/sagemaker/latest/dg/
        deployment-guardrails-configuration.html); without it SageMaker cannot watch them and the update rolls back."""
        from local.iam.requests import Check

        alarm_arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:"
        checks = [Check("cloudwatch:DescribeAlarms", alarm_arn + name) for name in alarms]
        for variant in green.variants:
            denial = self._role_denial(str(self._model(variant.model_name).get("ExecutionRoleArn", "")), checks)
            if denial:
                raise _Rollback(f"the execution role cannot read the auto-rollback alarms: {denial}")

    # Fleets ---------------------------------------------------------------------------------------------------

    def _start_fleet(self, endpoint: Endpoint, config_name: str) -> Fleet:
        config = self._config(config_name)
        variants = []
        stamp = f"{config_name}-{int(time.time() * 1000)}"
        fleet = Fleet(config_name=config_name, variants=variants)
        try:
            for spec in config["ProductionVariants"]:
                model = self._model(spec["ModelName"])
                self._authorize_model(model)
                container = model["PrimaryContainer"]
                root = self.state_dir / "endpoints" / endpoint.name / stamp / spec["VariantName"]
                variant = Variant(
                    name=spec["VariantName"],
                    model_name=spec["ModelName"],
                    weight=float(spec.get("InitialVariantWeight", 1.0)),
                    instance_count=int(spec.get("InitialInstanceCount", 1)),
                    image=container.get("Image", "local"),
                    root=root,
                )
                variants.append(variant)
                self._launch(endpoint, variant, container)
        except Exception:
            self._stop_fleet(fleet)
            raise
        return fleet

    def _launch(self, endpoint: Endpoint, variant: Variant, container: dict[str, Any]) -> None:
        ml = variant.root / "ml"
        model_dir = ml / "model"
        model_dir.mkdir(parents=True, exist_ok=True)
        (ml / "output").mkdir(parents=True, exist_ok=True)
        url = container.get("ModelDataUrl")
        if url:
            if url.endswith(".tar.gz"):
                bucket, key = _split_s3(url)
                archive = variant.root / "model.tar.gz"
                try:
                    self._client("s3").download_file(bucket, key, str(archive))
                except Exception as err:
                    raise RuntimeError(f"Failed to download model data from {url}: {err}") from None
                with tarfile.open(archive) as tar:
                    tar.extractall(model_dir, filter="data")
            else:
                self._download(url, model_dir)
        names = [str((container.get("Environment") or {}).get("MODEL_ID", "")), variant.model_name, str(url or "")]
        fault = self.faults.model_fault(names)
        if fault == "unhealthy":  # the real serve must fail to load it: a deterministic, corrupted vw.model
            (model_dir / "vw.model").write_bytes(CORRUPT_MODEL_BYTES)
            self.faults.count("unhealthy_model")
        variant.inject_errors = fault == "erroring"
        program_dir = self._program_dir(str(container.get("Image", "")))
        env = self._base_env(program_dir)
        env["SERVE_WORKERS"] = "1"
        env.update({k: str(v) for k, v in (container.get("Environment") or {}).items()})
        env.update(self._execution_credentials(variant.model_name))
        variant.port = _free_port()
        # SageMaker's own: the port to listen on (8080 on AWS unless it sets this, as for inference pipelines).
        # SM_ML_ROOT moves /opt/ml to this variant's directory.
        env.update({"SM_ML_ROOT": str(ml), "SAGEMAKER_BIND_TO_PORT": str(variant.port)})
        log = open(variant.root / "serve.log", "ab")  # noqa: SIM115 - the process owns it for its lifetime
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
        variant.pool = _Pool(variant.port)

    def _await_healthy(self, fleet: Fleet, timeout: float) -> None:
        """Until every variant answers `GET /ping` with 200; RuntimeError (SageMaker's wording) otherwise."""
        deadline = time.monotonic() + timeout
        for variant in fleet.variants:
            while True:
                if variant.process is not None and variant.process.poll() is not None:
                    tail = self._log_tail(variant)
                    raise RuntimeError(
                        f"The primary container for production variant {variant.name} did not pass the ping health "
                        f"check: the container exited with code {variant.process.returncode}. {tail}".strip()
                    )
                try:
                    status, _, _ = variant.pool.request("GET", "/ping", None, {}, timeout=2.0)  # type: ignore[union-attr]
                    if status == 200:
                        break
                except (OSError, http.client.HTTPException):
                    pass
                if time.monotonic() >= deadline or self._closing.is_set():
                    raise RuntimeError(
                        f"The primary container for production variant {variant.name} did not pass the ping health "
                        f"check within {timeout:g} seconds. {self._log_tail(variant)}".strip()
                    )
                time.sleep(0.1)

    @staticmethod
    def _log_tail(variant: Variant) -> str:
        path = variant.root / "serve.log"
        if not path.exists():
            return ""
        lines = path.read_text(errors="replace").strip().splitlines()[-3:]
        return ("Container log: " + " | ".join(lines))[:600] if lines else ""

    @staticmethod
    def _drain(fleet: Fleet, timeout: float = 30.0) -> None:
        """Until the fleet has no request in flight (the router sends it no new ones)."""
        deadline = time.monotonic() + timeout
        while fleet.counts()[2] > 0 and time.monotonic() < deadline:
            time.sleep(0.02)

    @staticmethod
    def _stop_fleet(fleet: Fleet) -> None:
        for variant in fleet.variants:
            _stop_process(variant.process)
            if variant.pool is not None:
                variant.pool.close()

    # InvokeEndpoint -------------------------------------------------------------------------------------------

    def invoke_endpoint(
        self, endpoint_name: str, body: bytes, content_type: str, accept: str
    ) -> tuple[int, dict[str, str], bytes]:
        """Route one invocation to the endpoint's serving process (sagemaker-runtime InvokeEndpoint)."""
        with self._lock:
            endpoint = self._endpoints.get(endpoint_name)
            if endpoint is None or endpoint.deleted:
                return _error(400, "ValidationError", f"Endpoint {endpoint_name} of account {ACCOUNT} not found.")
            blue, green, share = endpoint.blue, endpoint.green, endpoint.green_share
            if blue is None:
                return _error(400, "ValidationError", f"Endpoint {endpoint_name} is not in service: {endpoint.status}")
            fleet = green if green is not None and share > 0 and random.random() < share else blue
            variant = fleet.pick()
        if variant.inject_errors:  # fault injection: the candidate "raises" on every request (a 500 from the container)
            with fleet.lock:
                variant.invocations += 1
                variant.errors += 1
            self.faults.count("erroring_invocation")
            message = "injected fault: the model raised an error (local fault injection)"
            return _error(
                424,
                "ModelError",
                f'Received server error (500) from primary with message "{message}".',
                original_status=500,
                original_message=message,
            )
        with fleet.lock:
            variant.in_flight += 1
            variant.invocations += 1
        try:
            headers = {"Content-Type": content_type or "application/json", "Accept": accept or "application/json"}
            status, answer_headers, data = variant.pool.request("POST", "/invocations", body, headers, timeout=60.0)  # type: ignore[union-attr]
        except (OSError, http.client.HTTPException) as err:
            with fleet.lock:
                variant.errors += 1
            return _error(
                424,
                "ModelError",
                f'Received server error (0) from primary with message "{type(err).__name__}: {err}".',
                original_status=0,
            )
        finally:
            with fleet.lock:
                variant.in_flight -= 1
        if status >= 500:
            with fleet.lock:
                variant.errors += 1
        if status >= 400:
            kind = "server" if status >= 500 else "client"
            return _error(
                424,
                "ModelError",
                f'Received {kind} error ({status}) from primary with message "{data.decode(errors="replace")}".',
                original_status=status,
                original_message=data.decode(errors="replace"),
            )
        content = answer_headers.get("Content-Type") or answer_headers.get("content-type") or "application/json"
        return status, {"Content-Type": content, "x-Amzn-Invoked-Production-Variant": variant.name}, data

    def variant_counters(self, endpoint_name: str) -> dict[str, dict[str, int]]:
        """Invocations, errors and in-flight requests per `<config>/<variant>` (tests, benchmarks)."""
        endpoint = self._endpoint(endpoint_name)
        counters = {}
        for fleet in (endpoint.blue, endpoint.green):
            if fleet is None:
                continue
            with fleet.lock:
                for v in fleet.variants:
                    counters[f"{fleet.config_name}/{v.name}"] = {
                        "invocations": v.invocations,
                        "errors": v.errors,
                        "in_flight": v.in_flight,
                    }
        return counters

    def variant_processes(self, endpoint_name: str) -> list[dict[str, Any]]:
        """The serving processes of an endpoint (fleet, config, variant, pid, port, counters): tests signal them."""
        endpoint = self._endpoint(endpoint_name)
        with self._lock:
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
                            "pid": v.process.pid if v.process is not None else None,
                            "running": v.process is not None and v.process.poll() is None,
                            "port": v.port,
                            "invocations": v.invocations,
                            "errors": v.errors,
                            "in_flight": v.in_flight,
                        }
                    )
        return found

    def wait_endpoint(
        self, name: str, timeout: float = 120.0, statuses: tuple[str, ...] = ("InService", "Failed")
    ) -> str:
        """Until the endpoint's update/creation thread is done and its status is one of `statuses`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            endpoint = self._endpoint(name)
            thread = endpoint.update_thread
            if endpoint.status in statuses and (thread is None or not thread.is_alive()):
                return endpoint.status
            time.sleep(0.05)
        return self._endpoint(name).status

    def wait_job(self, name: str, timeout: float = 120.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self._job({"TrainingJobName": name})
            if job.status in ("Completed", "Failed", "Stopped"):
                return job.status
            time.sleep(0.05)
        return self._job({"TrainingJobName": name}).status


def _error(
    status: int, code: str, message: str, original_status: int | None = None, original_message: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    body: dict[str, Any] = {"ErrorCode": code, "Message": message, "message": message}
    if original_status is not None:
        body["ErrorCode"] = "CLIENT_ERROR_FROM_MODEL" if 400 <= original_status < 500 else "SERVER_ERROR_FROM_MODEL"
        body["OriginalStatusCode"] = original_status
        body["OriginalMessage"] = original_message or message
    return status, {"Content-Type": "application/json", "x-amzn-ErrorType": code}, json.dumps(body).encode()


class _Stopped(Exception):
    def __init__(self, timed_out: bool = False) -> None:
        super().__init__("stopped")
        self.timed_out = timed_out


class _JobFailed(Exception):
    """A training job failure with SageMaker's FailureReason text."""
