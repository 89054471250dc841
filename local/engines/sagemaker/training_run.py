"""One training job's run: lay out SageMaker's `/opt/ml` under the job's directory, run the container module with
`SM_ML_ROOT` pointing there, parse `MetricDefinitions` from its output, then tar `model/` to `model.tar.gz` at
`<S3OutputPath>/<job>/output/model.tar.gz`. A non-zero exit is `Failed` with `AlgorithmError: <output/failure>`."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import tarfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from local.engines.sagemaker.common import Clients, JobFailed, arn, now, split_s3
from local.engines.sagemaker.images import Images
from local.engines.sagemaker.processes import instance_environment, stop_process
from local.engines.sagemaker.roles import RoleChecks
from local.engines.sagemaker.training import TrainingJob
from local.errors import AwsError
from local.faults import Faults


class _Stopped(Exception):
    def __init__(self, timed_out: bool = False) -> None:
        super().__init__("stopped")
        self.timed_out = timed_out


@dataclass
class JobRunner:
    """Runs training jobs as `python -m <container_module> <entrypoint>` processes, as the job's RoleArn."""

    clients: Clients
    roles: RoleChecks
    container_module: str
    python: str
    images: Images = field(default_factory=Images)
    faults: Faults = field(default_factory=Faults)

    def run(self, job: TrainingJob) -> None:
        """The whole job, ending in Completed, Failed or Stopped: never raises (a failure is the job's)."""
        ml = job.root / "ml"
        try:
            self.roles.authorize_job(job.request)
            self._prepare(job, ml)
            if job.stop_requested:
                raise _Stopped()
            code, timed_out = self._train(job, ml)
            if job.stop_requested or timed_out:
                raise _Stopped(timed_out)
            if code != 0:
                raise JobFailed(f"AlgorithmError: {self._failure_text(job, ml, code)}"[:1024])
            job.move("Uploading", "Uploading generated training model")
            job.artifact = self._upload_model(job, ml)
            job.end("Completed", "Training job completed", "Completed")
        except _Stopped as stop:
            if stop.timed_out:
                reason = "Training job reached the maximum runtime (StoppingCondition.MaxRuntimeInSeconds)"
                job.end("MaxRuntimeExceeded", reason, "Stopped", failure=reason)
            else:
                job.end("Stopped", "Training job stopped", "Stopped")
        except JobFailed as failed:
            job.end("Failed", "Training job failed", "Failed", failure=str(failed))
        except AwsError as err:
            job.end("Failed", "Training job failed", "Failed", failure=f"ClientError: {err.message}")
        except Exception as err:  # S3 trouble or a bug here: the job fails with the reason, the engine goes on
            failure = f"ClientError: {type(err).__name__}: {err}"[:1024]
            job.end("Failed", "Training job failed", "Failed", failure=failure)

    @staticmethod
    def _failure_text(job: TrainingJob, ml: Path, code: int) -> str:
        """The container's `output/failure`, else the last lines of its output."""
        failure = ml / "output" / "failure"
        text = failure.read_text(errors="replace").strip()[:1024] if failure.exists() else ""
        if not text:
            tail = (job.root / "output.log").read_text(errors="replace").strip().splitlines()[-5:]
            text = f"ExecuteUserScriptError: exit code {code}: " + " | ".join(tail)
        return text

    def _prepare(self, job: TrainingJob, ml: Path) -> None:
        request = job.request
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
                raise JobFailed(f"ClientError: channel {channel.get('ChannelName')} has no S3DataSource.S3Uri")
            if self.clients.download(uri, ml / "input" / "data" / channel["ChannelName"]) == 0:
                raise JobFailed(
                    f'ClientError: No S3 objects found under S3 URL "{uri}" given in input data source. Please ensure '
                    "that the bucket exists in the selected region, that objects exist under that S3 prefix, and "
                    "that the role has permission to access the bucket."
                )

    def _command(self, job: TrainingJob) -> tuple[list[str], float | None]:
        """The process to run and its runtime limit (`MaxRuntimeInSeconds`, or an injected fault's)."""
        spec = job.request["AlgorithmSpecification"]
        limit = (job.request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
        fault = self.faults.job_fault(job.name)
        if fault is not None:
            return self._faulty_command(fault, limit)
        entry = list(spec.get("ContainerEntrypoint") or []) + list(spec.get("ContainerArguments") or []) or ["train"]
        if entry[0] in ("python", "python3"):
            return [self.python, *entry[1:]], limit
        return [self.python, "-m", self.container_module, *entry], limit

    def _faulty_command(self, fault: tuple[str, float], limit: float | None) -> tuple[list[str], float | None]:
        """The process an injected job fault runs instead of the container, and the runtime limit it imposes."""
        kind, seconds = fault
        if kind == "timeout":
            return [self.python, "-c", "import time; time.sleep(3600)"], seconds
        script = (
            "import os, sys, time; time.sleep(0.2); "
            "open(os.path.join(os.environ['SM_ML_ROOT'], 'output', 'failure'), 'w')"
            ".write('injected fault: the job failed mid-run (local fault injection)'); sys.exit(1)"
        )
        return [self.python, "-c", script], limit

    def _train(self, job: TrainingJob, ml: Path) -> tuple[int, bool]:
        request = job.request
        command, limit = self._command(job)
        program_dir = self.images.program_dir(str(request["AlgorithmSpecification"].get("TrainingImage", "")))
        env = instance_environment(self.clients.endpoint_url, program_dir)
        env.update({k: str(v) for k, v in (request.get("Environment") or {}).items()})
        # SageMaker's own variables for a training container ("How Amazon SageMaker Provides Training Information"):
        # TRAINING_JOB_NAME and TRAINING_JOB_ARN. The SM_* variables (SM_MODEL_DIR, SM_CHANNEL_*, ...) come from the
        # SageMaker Training Toolkit inside framework images, not from the platform, so a bare image gets none;
        # SM_ML_ROOT only moves /opt/ml to this job's directory.
        env.update(self.roles.credentials(str(request.get("RoleArn", ""))))
        env.update(
            {"SM_ML_ROOT": str(ml), "TRAINING_JOB_NAME": job.name, "TRAINING_JOB_ARN": arn("training-job", job.name)}
        )
        metric_specs = request["AlgorithmSpecification"].get("MetricDefinitions") or []
        patterns = [(d["Name"], re.compile(d["Regex"])) for d in metric_specs if d.get("Name")]
        with job.lock:
            job.started = now()
            job.move("Training", "Training image download completed. Training in progress.")
            process = job.process = subprocess.Popen(
                command,
                cwd=program_dir,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        timed_out = threading.Event()

        def on_timeout() -> None:
            timed_out.set()
            stop_process(process, 10)

        timer = threading.Timer(float(limit), on_timeout) if limit else None
        if timer:
            timer.daemon = True
            timer.start()
        assert process.stdout is not None
        with open(job.root / "output.log", "wb") as log:
            for raw in process.stdout:
                log.write(raw)
                log.flush()
                self._match_metrics(job, raw.decode(errors="replace"), patterns)
        code = process.wait()
        if timer:
            timer.cancel()
        return code, timed_out.is_set()

    @staticmethod
    def _match_metrics(job: TrainingJob, line: str, patterns: list[tuple[str, re.Pattern[str]]]) -> None:
        """A `MetricDefinitions` regex that matches the line sets that metric (the last value wins)."""
        for name, pattern in patterns:
            match = pattern.search(line)
            if match:
                with contextlib.suppress(ValueError, IndexError), job.lock:
                    job.metrics[name] = (float(match.group(1) if match.groups() else match.group(0)), now())

    def _upload_model(self, job: TrainingJob, ml: Path) -> str:
        uri = job.artifact_uri
        archive = job.root / "model.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            for path in sorted((ml / "model").iterdir()):
                tar.add(path, arcname=path.name)
        bucket, key = split_s3(uri)
        self.clients.get("s3").upload_file(str(archive), bucket, key)
        return uri
