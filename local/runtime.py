"""The local runtime as one object: synthesize the stack, start the gateway, provision the template.

`LocalRuntime(settings_overrides=..., port=...).start()` is what `python -m local up` and `demo` run, and what the
end-to-end tests use. State (synthesized template, provisioned names, logs, engine work files, pid) lives under
`state_dir` (default `local/.state/`).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from local.aws import client, local_environment
from local.gateway import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_STATE_DIR, Gateway
from local.provision import Stack, provision, synthesize

DEMO_SETTINGS: dict[str, Any] = {
    "retrain_threshold": 300,
    "reward_wait_seconds": 2,
    "min_training_rows": 50,
    "poll_seconds": 1,
    "canary_wait_seconds": 3,
    "termination_wait_seconds": 1,
}
"""Settings the local demo overrides (cdk.json stays the production configuration)."""


class LocalRuntime:
    def __init__(
        self,
        settings_overrides: dict[str, Any] | None = None,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        state_dir: Path = DEFAULT_STATE_DIR,
        template: Path | None = None,
        firehose_buffer_seconds: float = 1.0,
        engines: bool = True,
    ) -> None:
        self.settings_overrides = dict(settings_overrides or {})
        self.state_dir = Path(state_dir)
        self.template = template
        self.gateway = Gateway(
            host=host,
            port=port,
            state_dir=self.state_dir,
            firehose_buffer_seconds=firehose_buffer_seconds,
            engines=engines,
        )
        self.stack: Stack | None = None
        self.timings: dict[str, float] = {}

    @property
    def url(self) -> str:
        return self.gateway.url

    def start(self) -> LocalRuntime:
        started = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        template = self.template
        if template is None:
            template = synthesize(self.settings_overrides, self.state_dir / "cdk.out")
        self.timings["synth_seconds"] = time.monotonic() - started
        self.gateway.start()
        try:
            with open(self.state_dir / "settings.json", "w") as fh:
                json.dump(self.settings_overrides, fh)
            stack_name = f"{self._experiment_id(template)}-pipeline"
            self.stack = provision(self.gateway, template, stack_name=stack_name)
            assert self.gateway.lambdas is not None
            self.gateway.lambdas.prewarm()
        except BaseException:
            self.gateway.close()
            raise
        self.timings["up_seconds"] = time.monotonic() - started
        (self.state_dir / "endpoint.json").write_text(
            json.dumps(
                {"url": self.url, "pid": os.getpid(), "outputs": self.stack.outputs, "timings": self.timings},
                indent=2,
            )
        )
        return self

    @staticmethod
    def _experiment_id(template: Path) -> str:
        raw = json.loads(Path(template).read_text())
        for resource in raw.get("Resources", {}).values():
            if resource.get("Type") == "AWS::StepFunctions::StateMachine":
                name = resource.get("Properties", {}).get("StateMachineName", "")
                if isinstance(name, str) and name.endswith("-retrain"):
                    return name[: -len("-retrain")]
        return "local"

    def outputs(self) -> dict[str, str]:
        assert self.stack is not None
        return self.stack.outputs

    def environment(self) -> dict[str, str]:
        return local_environment(self.url)

    def client(self, service: str) -> Any:
        return client(service, endpoint_url=self.url)

    def close(self) -> None:
        self.gateway.close()
        endpoint = self.state_dir / "endpoint.json"
        if endpoint.is_file():
            endpoint.unlink()

    def __enter__(self) -> LocalRuntime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_endpoint(state_dir: Path = DEFAULT_STATE_DIR) -> dict[str, Any] | None:
    """The running runtime's URL and outputs (written by `up`), or None."""
    path = Path(state_dir) / "endpoint.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())


__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "DEMO_SETTINGS", "LocalRuntime", "read_endpoint"]
