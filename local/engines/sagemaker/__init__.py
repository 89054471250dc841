"""SageMaker on this machine: training jobs as `python -m container <entrypoint>` subprocesses, endpoints as local
`python -m container serve` processes behind an InvokeEndpoint router, with blue/green updates, auto-rollback and
the replacement of unhealthy instances.

The parts, each owning its state (docs/local-engines.md, "SageMaker"):

- `engine.SageMakerEngine`: the front the gateway constructs (`dispatch`, `invoke_endpoint`, `close`).
- `registry`: models, endpoint configs, tags. `roles`: what a job's or model's role may do, and its credentials.
- `training` (control plane) and `training_run` (one job's `/opt/ml` layout, process, metrics, artifact).
- `images` (what each image tag runs: its staged `/opt/program`), `state` (variants, fleets, endpoints), `fleet`
  (launching and stopping serving processes), `endpoints` (the endpoint operations), `blue_green` (UpdateEndpoint's
  controller), `health` (ping health checks and replacing unhealthy instances), `router` and `pool` (InvokeEndpoint).

Fault injection (`engine.faults`, a `local.faults.Faults` the gateway shares; off unless configured): `failing_jobs`
run a stand-in process that writes `output/failure` and exits 1 (the normal failure path), `job_timeouts` a process
that hangs until the given seconds act as `MaxRuntimeInSeconds`; `unhealthy_models` get a corrupted `vw.model` in
the serving process's model directory (the real `serve` then fails to load it and the variant fails `/ping`);
`erroring_models` have every invocation answered as a 500 from the container without reaching it.
"""

from local.engines.sagemaker.engine import SageMakerEngine

__all__ = ["SageMakerEngine"]
