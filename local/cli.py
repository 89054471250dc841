"""`python -m local up|demo|executions|history NAME|status|down` — the local runtime from a terminal."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from local.aws import client
from local.driver import wait_exit
from local.gateway import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_STATE_DIR
from local.history import executions_table, render_history

PID_FILE = "gateway.pid"
LOG_FILE = "gateway.log"


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if getattr(args, "settings", None):
        overrides.update(json.loads(args.settings))
    return overrides


def _exports(url: str, outputs: dict[str, str]) -> str:
    from local.aws import local_environment

    lines = [f"export {k}={v}" for k, v in local_environment(url).items()]
    names = {
        "BUCKET_NAME": outputs.get("BucketName"),
        "STATE_MACHINE_ARN": outputs.get("StateMachineArn"),
        "ENDPOINT_NAME": outputs.get("EndpointName"),
        "DECISIONS_STREAM": outputs.get("DecisionsStreamName"),
        "REWARDS_STREAM": outputs.get("RewardsStreamName"),
    }
    lines.extend(f"export {k}={v}" for k, v in names.items() if v)
    return "\n".join(lines)


def _print_up(url: str, outputs: dict[str, str], seconds: float) -> None:
    print(f"local runtime up at {url} ({seconds:.1f}s); for boto3 and the AWS CLI:\n")
    print(_exports(url, outputs))
    print(
        "\ntry: aws stepfunctions list-executions --state-machine-arn $STATE_MACHINE_ARN; aws s3 ls s3://$BUCKET_NAME/"
    )
    sys.stdout.flush()


def _health(url: str, timeout: float = 1.0) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{url}/_local/health", timeout=timeout) as answer:
            return json.loads(answer.read())
    except OSError:
        return None


def cmd_up(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    url = f"http://{args.host}:{args.port}"
    if _health(url):
        print(f"a local runtime already answers at {url} (python -m local down stops it)", file=sys.stderr)
        return 1
    if args.detach:
        argv = [
            sys.executable,
            "-m",
            "local",
            "up",
            "--host",
            args.host,
            "--port",
            str(args.port),
            "--state-dir",
            str(state_dir),
        ]
        if args.settings:
            argv += ["--settings", args.settings]
        if args.template:
            argv += ["--template", args.template]
        with open(state_dir / LOG_FILE, "ab") as log:
            proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=Path(__file__).resolve().parent.parent,
            )
        deadline = time.monotonic() + args.timeout
        endpoint = state_dir / "endpoint.json"
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                print(f"the runtime exited with {proc.returncode}; see {state_dir / LOG_FILE}", file=sys.stderr)
                return 1
            if endpoint.is_file() and _health(url):
                info = json.loads(endpoint.read_text())
                if info.get("pid") == proc.pid:
                    _print_up(url, info["outputs"], float(info.get("timings", {}).get("up_seconds", 0.0)))
                    print(f"\ndetached: pid {proc.pid} (pid file {state_dir / PID_FILE}, log {state_dir / LOG_FILE})")
                    return 0
            time.sleep(0.3)
        print(f"the runtime did not come up within {args.timeout}s; see {state_dir / LOG_FILE}", file=sys.stderr)
        return 1

    from local.runtime import LocalRuntime

    runtime = LocalRuntime(
        settings_overrides=_overrides(args),
        host=args.host,
        port=args.port,
        state_dir=state_dir,
        template=Path(args.template) if args.template else None,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    started = time.monotonic()
    runtime.start()
    (state_dir / PID_FILE).write_text(str(os.getpid()))
    try:
        _print_up(runtime.url, runtime.outputs(), time.monotonic() - started)
        print("\nCtrl-C (or python -m local down) stops it.", flush=True)
        stop.wait()
    finally:
        runtime.close()
        pid_file = state_dir / PID_FILE
        if pid_file.is_file() and pid_file.read_text().strip() == str(os.getpid()):
            pid_file.unlink()
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    pid_file = Path(args.state_dir) / PID_FILE
    if not pid_file.is_file():
        print("no local runtime is running (no pid file)")
        return 0
    pid = int(pid_file.read_text().strip())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        print(f"pid {pid} was not running; pid file removed")
        return 0
    if not wait_exit(pid, 30):
        print(f"pid {pid} did not stop within 30 s", file=sys.stderr)
        return 1
    pid_file.unlink(missing_ok=True)
    print(f"stopped the local runtime (pid {pid})")
    return 0


def _state_machine_arn(args: argparse.Namespace) -> str:
    stack = Path(args.state_dir) / "stack.json"
    if stack.is_file():
        arn = json.loads(stack.read_text()).get("outputs", {}).get("StateMachineArn")
        if arn:
            return arn
    sfn = client("stepfunctions", endpoint_url=args.url)
    machines = sfn.list_state_machines()["stateMachines"]
    if not machines:
        raise SystemExit("no state machine in the local runtime (is it up?)")
    return machines[0]["stateMachineArn"]


def cmd_executions(args: argparse.Namespace) -> int:
    sfn = client("stepfunctions", endpoint_url=args.url)
    print(executions_table(sfn, _state_machine_arn(args)))
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    sfn = client("stepfunctions", endpoint_url=args.url)
    name = args.name
    if not name.startswith("arn:"):
        machine = _state_machine_arn(args)
        name = machine.replace(":stateMachine:", ":execution:") + ":" + name
    print(render_history(sfn, name, width=args.width))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    try:
        with urllib.request.urlopen(f"{args.url}/_local/status", timeout=5) as answer:
            print(json.dumps(json.loads(answer.read()), indent=2))
    except OSError as err:
        print(f"no local runtime at {args.url}: {err}", file=sys.stderr)
        return 1
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from local.demo import run_demo

    return run_demo(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--state-dir", default=str(DEFAULT_STATE_DIR), help="work files, logs, pid file")

    up = sub.add_parser("up", help="start the gateway and provision the stack")
    common(up)
    up.add_argument("--host", default=DEFAULT_HOST)
    up.add_argument("--port", type=int, default=DEFAULT_PORT)
    up.add_argument("--settings", help="JSON object merged over cdk.json settings, e.g. '{\"retrain_threshold\": 100}'")
    up.add_argument("--template", help="provision this synthesized template instead of running the synth")
    up.add_argument("--detach", action="store_true", help="run in the background (pid file under --state-dir)")
    up.add_argument("--timeout", type=float, default=300, help="seconds --detach waits for the runtime")
    up.set_defaults(func=cmd_up)

    down = sub.add_parser("down", help="stop a runtime started with up")
    common(down)
    down.set_defaults(func=cmd_down)

    url = os.environ.get("AWS_ENDPOINT_URL", f"http://{DEFAULT_HOST}:{DEFAULT_PORT}")
    for name, func, text in (
        ("executions", cmd_executions, "list the state machine's executions"),
        ("status", cmd_status, "the gateway's functions, async invocations and Firehose counters"),
    ):
        p = sub.add_parser(name, help=text)
        common(p)
        p.add_argument("--url", default=url)
        p.set_defaults(func=func)

    history = sub.add_parser("history", help="one execution's history, like the console's graph view")
    common(history)
    history.add_argument("name", help="execution name (the run_id) or ARN")
    history.add_argument("--url", default=url)
    history.add_argument("--width", type=int, default=130)
    history.set_defaults(func=cmd_history)

    demo = sub.add_parser("demo", help="the whole loop: up, bootstrap, simulator, retraining runs, report")
    common(demo)
    from local.demo import add_arguments

    add_arguments(demo)
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    import errno

    from local.provision import ProvisionError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except OSError as err:
        if err.errno != errno.EADDRINUSE:
            raise
        port = getattr(args, "port", DEFAULT_PORT)
        print(f"port {port} is in use (another local runtime? python -m local down, or --port)", file=sys.stderr)
        return 1
    except ProvisionError as err:
        print(f"provisioning failed: {err}", file=sys.stderr)
        return 1
