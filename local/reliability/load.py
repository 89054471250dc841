"""A load on the endpoint through the runtime's InvokeEndpoint: what was served (answered 200) and every error."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from local.driver import DetachedRuntime as Runtime


class Load(threading.Thread):
    """Threads invoking the endpoint through the gateway (batches of `batch` requests, no client retries): what was
    served (answered 200, by event_id and model_id) and every error by HTTP status and code."""

    def __init__(self, runtime: Runtime, threads: int = 3, batch: int = 5, seed: int = 1) -> None:
        super().__init__(name="load", daemon=True)
        from simulator import build_scenario
        from simulator.scenarios import take

        self.runtime = runtime
        self.threads = threads
        self.batch = batch
        pool = [i.request() for i in take(build_scenario("synthetic", seed=seed).interactions(200), 200)]
        self.bodies = [pool[n : n + batch] for n in range(0, len(pool) - batch, batch)]
        self.served: list[str] = []
        self.models: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.server_errors = 0
        self.stop_event = threading.Event()
        self.started_at = 0.0
        self.stopped_at = 0.0
        self._lock = threading.Lock()

    def _worker(self, index: int) -> None:
        from botocore.exceptions import ClientError

        from simulator.client import decode, encode

        client = self.runtime.new_client("sagemaker-runtime", attempts=1)
        n = index
        while not self.stop_event.is_set():
            requests = self.bodies[n % len(self.bodies)]
            n += self.threads
            try:
                answer = client.invoke_endpoint(
                    EndpointName=self.runtime.outputs["EndpointName"],
                    Body=encode(requests),
                    ContentType="application/json",
                    Accept="application/json",
                )
                decisions = decode(answer["Body"].read(), len(requests))
            except ClientError as err:
                status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                with self._lock:
                    self.errors[f"{status} {err.response.get('Error', {}).get('Code', '')}"] += 1
                    self.server_errors += status >= 500
                time.sleep(0.05)
                continue
            except Exception as err:  # connection trouble: counted, never a served decision
                with self._lock:
                    self.errors[type(err).__name__] += 1
                time.sleep(0.05)
                continue
            with self._lock:
                self.served.extend(d["event_id"] for d in decisions)
                self.models.update(d["model_id"] for d in decisions)

    def run(self) -> None:
        self.started_at = time.monotonic()
        workers = [threading.Thread(target=self._worker, args=(i,), daemon=True) for i in range(self.threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        self.stopped_at = time.monotonic()

    def finish(self) -> dict[str, Any]:
        self.stop_event.set()
        self.join(timeout=60)
        seconds = max(1e-9, self.stopped_at - self.started_at)
        return {
            "decisions": len(self.served),
            "seconds": round(seconds, 2),
            "decisions_per_s": round(len(self.served) / seconds, 1),
            "models": dict(self.models),
            "errors": dict(self.errors),
            "server_errors": self.server_errors,
        }
