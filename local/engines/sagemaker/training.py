"""Training jobs' control plane: CreateTrainingJob, DescribeTrainingJob, ListTrainingJobs, StopTrainingJob.

Each job owns its state and its lock; `JobRunner` (training_run.py) runs it in a thread of its own.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.engines.sagemaker.common import Params, arn, now, page, require
from local.engines.sagemaker.processes import stop_process
from local.engines.sagemaker.registry import Tags
from local.errors import AwsError

ENDED = ("Completed", "Failed", "Stopped")


@dataclass
class TrainingJob:
    name: str
    request: Params
    root: Path
    created: float
    status: str = "InProgress"
    secondary: str = "Starting"
    failure: str | None = None
    artifact: str | None = None
    started: float | None = None
    ended: float | None = None
    modified: float = 0.0
    transitions: list[Params] = field(default_factory=list)
    metrics: dict[str, tuple[float, float]] = field(default_factory=dict)
    process: subprocess.Popen[Any] | None = None
    stop_requested: bool = False
    lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def artifact_uri(self) -> str:
        return self.request["OutputDataConfig"]["S3OutputPath"].rstrip("/") + f"/{self.name}/output/model.tar.gz"

    def move(self, secondary: str, message: str, status: str | None = None) -> None:
        """The next SecondaryStatusTransition (and TrainingJobStatus when `status` is given)."""
        with self.lock:
            stamp = now()
            if self.transitions and "EndTime" not in self.transitions[-1]:
                self.transitions[-1]["EndTime"] = stamp
            self.transitions.append({"Status": secondary, "StartTime": stamp, "StatusMessage": message})
            self.secondary = secondary
            if status:
                self.status = status
            self.modified = stamp

    def end(self, secondary: str, message: str, status: str, failure: str | None = None) -> None:
        with self.lock:
            self.ended = now()
            if failure is not None:
                self.failure = failure
            self.move(secondary, message, status=status)

    def describe(self) -> Params:
        with self.lock:
            request = self.request
            described: Params = {
                "TrainingJobName": self.name,
                "TrainingJobArn": arn("training-job", self.name),
                "ModelArtifacts": {"S3ModelArtifacts": self.artifact or self.artifact_uri},
                "TrainingJobStatus": self.status,
                "SecondaryStatus": self.secondary,
                "HyperParameters": dict(request.get("HyperParameters") or {}),
                "AlgorithmSpecification": {"TrainingInputMode": "File", **request["AlgorithmSpecification"]},
                "RoleArn": request.get("RoleArn", ""),
                "InputDataConfig": request.get("InputDataConfig") or [],
                "OutputDataConfig": request["OutputDataConfig"],
                "ResourceConfig": request.get("ResourceConfig") or {},
                "StoppingCondition": request.get("StoppingCondition") or {},
                "CreationTime": self.created,
                "LastModifiedTime": self.modified or self.created,
                "SecondaryStatusTransitions": [dict(t) for t in self.transitions],
                "EnableNetworkIsolation": bool(request.get("EnableNetworkIsolation", False)),
                "EnableInterContainerTrafficEncryption": False,
                "EnableManagedSpotTraining": False,
            }
            if request.get("Environment"):
                described["Environment"] = request["Environment"]
            if self.failure:
                described["FailureReason"] = self.failure
            if self.started is not None:
                described["TrainingStartTime"] = self.started
            if self.ended is not None:
                described["TrainingEndTime"] = self.ended
                seconds = max(1, int(self.ended - (self.started or self.created)))
                described["TrainingTimeInSeconds"] = seconds
                described["BillableTimeInSeconds"] = seconds
            if self.metrics:
                described["FinalMetricDataList"] = [
                    {"MetricName": metric, "Value": value, "Timestamp": stamp}
                    for metric, (value, stamp) in self.metrics.items()
                ]
        return described

    def summary(self) -> Params:
        with self.lock:
            summary: Params = {
                "TrainingJobName": self.name,
                "TrainingJobArn": arn("training-job", self.name),
                "CreationTime": self.created,
                "LastModifiedTime": self.modified or self.created,
                "TrainingJobStatus": self.status,
            }
            if self.ended is not None:
                summary["TrainingEndTime"] = self.ended
        return summary


@dataclass
class TrainingJobs:
    """The jobs of this engine by name; `run` is what executes one (`JobRunner.run`)."""

    state_dir: Path
    tags: Tags
    run: Callable[[TrainingJob], None]
    _jobs: dict[str, TrainingJob] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def create(self, params: Params) -> Params:
        name = require(params, "TrainingJobName")
        require(params, "AlgorithmSpecification")
        require(params, "OutputDataConfig")
        if not re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name):
            raise AwsError("ValidationException", f"Value '{name}' at 'trainingJobName' failed to satisfy constraint")
        with self._lock:
            if name in self._jobs:
                raise AwsError(
                    "ResourceInUse",
                    f"Training job names must be unique within an AWS account and region, and a training job with "
                    f"this name already exists ({arn('training-job', name)})",
                )
            root = self.state_dir / "jobs" / name
            shutil.rmtree(root, ignore_errors=True)
            job = TrainingJob(name=name, request=json.loads(json.dumps(params)), root=root, created=now())
            job.move("Starting", "Preparing the instances for training")
            self._jobs[name] = job
        self.tags.put(arn("training-job", name), list(params.get("Tags") or []))
        threading.Thread(target=self.run, args=(job,), name=f"training-{name}", daemon=True).start()
        return {"TrainingJobArn": arn("training-job", name)}

    def get(self, params: Params) -> TrainingJob:
        name = require(params, "TrainingJobName")
        with self._lock:
            job = self._jobs.get(name)
        if job is None:
            raise AwsError("ResourceNotFound", "Requested resource not found.")
        return job

    def describe(self, params: Params) -> Params:
        return self.get(params).describe()

    def list_page(self, params: Params) -> Params:
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
        order = params.get("SortBy", "")
        jobs.sort(
            key=lambda j: j.name if order == "Name" else j.status if order == "Status" else j.created,
            reverse=params.get("SortOrder", "Descending") == "Descending",
        )
        return page([job.summary() for job in jobs], params, "TrainingJobSummaries")

    def stop(self, params: Params) -> Params:
        job = self.get(params)
        with job.lock:
            if job.status != "InProgress":
                raise AwsError("ValidationException", f"The training job {job.name} is not in progress: {job.status}")
            job.stop_requested = True
            job.move("Stopping", "Stopping the training job", status="Stopping")
            process = job.process
        if process is not None:
            threading.Thread(target=stop_process, args=(process, 10), daemon=True).start()
        return {}

    def wait(self, name: str, timeout: float = 120.0) -> str:
        """Until the job has ended (Completed, Failed, Stopped) or `timeout` passed; its status."""
        deadline = time.monotonic() + timeout
        job = self.get({"TrainingJobName": name})
        while job.status not in ENDED and time.monotonic() < deadline:
            time.sleep(0.05)
        return job.status

    def close(self) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.stop_requested = True
            stop_process(job.process, 5)
