"""SageMaker `serve`: the policy behind `container.serving.server` (uvicorn, httptools, uvloop) on
`SAGEMAKER_BIND_TO_PORT`.

Pre-forked worker processes (one per CPU) share the listening socket, each with one event loop: VW predictions
hold the GIL and a workspace is not thread-safe, so threads would only add locking; processes use the cores.
A worker that dies (a crash, SIGKILL, the OOM killer) is replaced at once while the others keep serving; its
answered decisions are in its spool (`container.serving.spool`), which the replacement delivers first. A worker
that cannot load the policy takes the container down instead (SageMaker's health check then fails with its
message), and so do crashes in a tight loop. SIGTERM stops accepting, finishes requests in progress, then flushes
every buffered decision record before exit.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import signal
import socket
import sys
import time
import traceback
from collections import deque
from collections.abc import Mapping
from pathlib import Path

from container.core.challenger import SHARE_VARIABLE, ChallengerError, check_share, load_serving_policy
from container.core.layout import Layout
from container.serving.app import DecisionApp
from container.serving.decision_log import (
    DecisionLogger,
    MissingRegion,
    UnknownAcknowledgement,
    acknowledgement,
    firehose_region,
    logger_from_env,
)
from container.serving.server import Server, run

DEFAULT_PORT = 8080
SHUTDOWN_FLUSH_SECONDS = 60.0
GIL_SWITCH_SECONDS = 0.0005
LOAD_FAILED = 3
"""A worker's exit code when the policy cannot load: replacing it would fail the same way."""
CRASH_LOOP = (5, 30.0)
"""More than 5 worker deaths within 30 s: something is wrong beyond one worker; the container exits."""


def _log(message: str) -> None:
    print(f"[serve] {message}", flush=True)


def known_actions(environ: Mapping[str, str]) -> list[str]:
    """Fallback action ids (`ACTIONS`, comma-separated) for a policy whose metadata names none."""
    return [a.strip() for a in environ.get("ACTIONS", "").split(",") if a.strip()]


def build_app(
    layout: Layout, environ: Mapping[str, str], logger: DecisionLogger | None = None, seed_offset: int = 0
) -> DecisionApp:
    """Load the policy from `model/` and wire it to the decision logger configured by the environment."""
    seed = int(environ["SERVE_SEED"]) + seed_offset if environ.get("SERVE_SEED") else None
    policy = load_serving_policy(layout.model_dir, environ, actions=known_actions(environ), seed=seed)
    logger = logger or logger_from_env(
        environ, layout.output_dir / "decisions.jsonl", spool_dir(layout), slot=seed_offset
    )
    experiment_id = environ.get("EXPERIMENT_ID", "default")
    return DecisionApp(policy, logger, experiment_id, environ.get("MODEL_ID") or None)


def spool_dir(layout: Layout) -> Path:
    """Where workers spool decision records when `DECISIONS_SPOOL_DIR` is not set: on the container's disk, which
    outlives a worker (and, with SageMaker, a restarted container on the same instance)."""
    return layout.output_dir / "decision-spool"


def bound_socket(host: str, port: int) -> socket.socket:
    """A listening socket (port 0 picks a free one; tests read it back)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(4096)
    return sock


def worker_count(environ: Mapping[str, str]) -> int:
    """`SERVE_WORKERS`, else one worker per CPU this process may run on (VW holds the GIL while predicting)."""
    if environ.get("SERVE_WORKERS"):
        return max(1, int(environ["SERVE_WORKERS"]))
    return max(1, len(os.sched_getaffinity(0)))


def serve_app(app: DecisionApp, sock: socket.socket) -> None:
    """Answer `/ping` and `/invocations` on `sock` until SIGTERM/SIGINT, then drain the connections; with an
    acknowledging decision log, a decision is answered once it is delivered."""
    run(Server(app.http_handler, sock))


def run_worker(layout: Layout, sock: socket.socket, environ: Mapping[str, str], index: int) -> int:
    """One serving process: load the policy, serve until SIGTERM/SIGINT, then flush the decision log."""
    try:
        app = build_app(layout, environ, seed_offset=index)
    except Exception as error:  # a model that cannot load must say why before the endpoint fails its health check
        print(f"[serve] FAILED to load the policy from {layout.model_dir}: {error}", file=sys.stderr, flush=True)
        return LOAD_FAILED
    challenger = f", challenger {app.challenger_model_id}" if app.challenger_model_id else ""
    _log(
        f"worker {index}: policy {app.model_id} ({'uniform' if app.policy.is_uniform else 'vw'}, "
        f"{len(app.policy.actions)} known actions{challenger}) on {sock.getsockname()[1]}"
    )
    # The decision log's thread must not hold the GIL for the default 5 ms while a request waits: hand it back
    # to the event loop sooner (p99 latency), at the price of a few more thread switches.
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    # Everything loaded so far (VW, numpy, boto3's service models: ~70,000 tracked objects) lives as long as the
    # worker. Frozen, the cyclic collector stops rescanning it in every full collection, which otherwise stalled
    # the requests behind it for tens of milliseconds (measured: docs/container.md).
    gc.collect()
    gc.freeze()
    try:
        serve_app(app, sock)
    finally:
        counters = app.logger.close(SHUTDOWN_FLUSH_SECONDS)
        _log(
            f"worker {index} stopped: served={counters.served} delivered={counters.delivered} "
            f"retried={counters.retried} spilled={counters.spilled} recovered={counters.recovered}"
        )
    return 0


PR_SET_PDEATHSIG = 1


def _exit_with(supervisor: int) -> None:
    """Have the kernel send this worker SIGTERM when the supervisor dies, even by SIGKILL (Linux `prctl`), so no
    orphaned worker keeps serving on the port a restarted container must bind; the worker then drains and flushes."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != supervisor:  # it died before the prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _describe(exit_code: int) -> str:
    return f"signal {signal.Signals(-exit_code).name}" if exit_code < 0 else f"exit code {exit_code}"


def supervise(layout: Layout, sock: socket.socket, environ: Mapping[str, str], workers: int) -> int:
    """Pre-fork `workers` processes on one listening socket and keep them running: a dead worker is replaced at
    once (same slot: its spool is delivered by the replacement). SIGTERM/SIGINT are forwarded, then every worker
    is waited for while it flushes. Returns 1 if a worker failed (could not load the policy, or crashed in a loop)."""
    children: dict[int, int] = {}  # pid -> worker index
    stopping = False

    def stop_all(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    supervisor = os.getpid()

    def spawn(index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the child: no threads exist yet, the policy and the logger are created after the fork
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            _exit_with(supervisor)
            code = 1
            try:
                code = run_worker(layout, sock, environ, index)
            except BaseException:  # report, then leave without running the parent's cleanup in the child
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children[pid] = index
        if stopping:  # a SIGTERM arrived while forking: this child missed the forward
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    # Installed before forking, so a SIGTERM that arrives while workers start is forwarded, not fatal.
    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    for index in range(workers):
        spawn(index)
    status = 0
    deaths: deque[float] = deque()
    limit, window = CRASH_LOOP
    while children:
        try:
            pid, wait_status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if pid not in children:
            continue
        index = children.pop(pid)
        exit_code = os.waitstatus_to_exitcode(wait_status)
        if stopping:
            status = status or int(exit_code != 0)
            continue
        if exit_code == LOAD_FAILED:
            _log(f"worker {index} could not load the policy: stopping the container")
            status = 1
            stop_all(signal.SIGTERM, None)
            continue
        now = time.monotonic()
        deaths.append(now)
        while deaths and now - deaths[0] > window:
            deaths.popleft()
        if len(deaths) > limit:
            _log(f"worker {index} died ({_describe(exit_code)}): {len(deaths)} deaths in {window:g} s, stopping")
            status = 1
            stop_all(signal.SIGTERM, None)
            continue
        _log(f"worker {index} (pid {pid}) died ({_describe(exit_code)}): starting a replacement")
        spawn(index)
    return status


def check_environment(environ: Mapping[str, str]) -> str | None:
    """Why `serve` cannot start in this environment (None when it can): checked once, before any worker forks."""
    try:
        acknowledgement(environ)
        check_share(environ.get(SHARE_VARIABLE))
        if environ.get("DECISIONS_STREAM"):
            firehose_region(environ)
    except (MissingRegion, UnknownAcknowledgement, ChallengerError) as error:
        return str(error)
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point of `serve`: runs until SIGTERM/SIGINT, then flushes the decision log."""
    problem = check_environment(os.environ)
    if problem:
        print(f"[serve] FAILED to start: {problem}", file=sys.stderr, flush=True)
        return 2
    layout = Layout.from_env()
    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", DEFAULT_PORT))
    sock = bound_socket("0.0.0.0", port)
    return supervise(layout, sock, os.environ, worker_count(os.environ))
