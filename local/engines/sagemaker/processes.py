"""Container processes: the environment a SageMaker instance gives every container, and how one is stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from local.aws import local_environment
from local.engines.sagemaker.common import REPO_ROOT

STOP_GRACE = 30.0
"""SageMaker stops a container with SIGTERM, then SIGKILL "thirty seconds later"."""
_CALLER_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "VIRTUAL_ENV", "SYSTEMROOT")


def stop_process(process: subprocess.Popen[Any] | None, grace: float = STOP_GRACE) -> None:
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


def instance_environment(endpoint_url: str, program_dir: Path = REPO_ROOT) -> dict[str, str]:
    """What a SageMaker instance gives every container before the request's own environment: no region.

    SageMaker sets no `AWS_REGION`/`AWS_DEFAULT_REGION` for the container (a model or job that needs one names it
    in its `Environment`), so neither is set here. The gateway's URL (`AWS_ENDPOINT_URL`) and the local
    credentials stand for what the instance's network and execution role (instance metadata) provide on AWS;
    the rest is this machine's process plumbing (PATH, the image's `program_dir` on PYTHONPATH, unbuffered output).
    """
    env = {k: os.environ[k] for k in _CALLER_ENV if k in os.environ}
    gateway = local_environment(endpoint_url)
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
