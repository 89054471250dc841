"""InvokeEndpoint (sagemaker-runtime): pick blue or green by the current split and a healthy variant by weight,
forward over the variant's keep-alive pool, and answer in SageMaker's shapes.

A container's 4xx/5xx is `ModelError` (424). A variant with no healthy instance (its container died, or it is
being replaced) gets no traffic: green's share goes to blue, and an endpoint with no healthy instance answers
`ServiceUnavailable` (503, which SDKs retry) until the replacement passes its health check, instead of a
`ModelError` the container never sent.
"""

from __future__ import annotations

import http.client
import json
import random

from local.engines.sagemaker.common import ACCOUNT, Params
from local.engines.sagemaker.state import Endpoint, EndpointTable, Fleet, Variant
from local.faults import Faults

Reply = tuple[int, dict[str, str], bytes]
INVOCATION_TIMEOUT = 60.0
"""SageMaker: "A customer's model containers must respond to requests within 60 seconds"."""


def error_reply(
    status: int, code: str, message: str, original_status: int | None = None, original_message: str | None = None
) -> Reply:
    body: Params = {"ErrorCode": code, "Message": message, "message": message}
    if original_status is not None:
        body["ErrorCode"] = "CLIENT_ERROR_FROM_MODEL" if 400 <= original_status < 500 else "SERVER_ERROR_FROM_MODEL"
        body["OriginalStatusCode"] = original_status
        body["OriginalMessage"] = original_message or message
    return status, {"Content-Type": "application/json", "x-amzn-ErrorType": code}, json.dumps(body).encode()


def model_error(status: int, message: str) -> Reply:
    kind = "server" if status >= 500 or status == 0 else "client"
    return error_reply(
        424,
        "ModelError",
        f'Received {kind} error ({status}) from primary with message "{message}".',
        original_status=status,
        original_message=message,
    )


def unavailable(endpoint_name: str, fleet: Fleet) -> Reply:
    names = ", ".join(v.name for v in fleet.variants)
    return error_reply(
        503,
        "ServiceUnavailable",
        f"Endpoint {endpoint_name} has no healthy instance in production variant(s) {names}: an unhealthy instance "
        "is being replaced. Try your call again.",
    )


class Router:
    """Routes invocations to the endpoints in `table`; counts invocations, 5xx/connection errors and in-flight
    requests per variant (the blue/green controller's stand-in for `Invocation5XXErrors`)."""

    def __init__(self, table: EndpointTable) -> None:
        self._table = table
        self.faults = Faults()

    def invoke(self, endpoint_name: str, body: bytes, content_type: str, accept: str) -> Reply:
        with self._table.lock:
            endpoint = self._table.live(endpoint_name)
            if endpoint is None:
                return error_reply(400, "ValidationError", f"Endpoint {endpoint_name} of account {ACCOUNT} not found.")
            blue, green, share = endpoint.blue, endpoint.green, endpoint.green_share
            if blue is None:
                return error_reply(
                    400, "ValidationError", f"Endpoint {endpoint_name} is not in service: {endpoint.status}"
                )
            fleet = green if green is not None and share > 0 and random.random() < share else blue
            variant = fleet.pick()
            if variant is None and fleet is green:  # green's instances are unhealthy: blue's healthy ones serve
                fleet, variant = blue, blue.pick()
        if variant is None:
            with fleet.lock:
                fleet.variants[0].errors += 1
            return unavailable(endpoint_name, fleet)
        if variant.inject_errors:  # fault injection: the candidate "raises" on every request (a 500 from the container)
            with fleet.lock:
                variant.invocations += 1
                variant.errors += 1
            self.faults.count("erroring_invocation")
            return model_error(500, "injected fault: the model raised an error (local fault injection)")
        return self._forward(endpoint, fleet, variant, body, content_type, accept)

    def _forward(
        self, endpoint: Endpoint, fleet: Fleet, variant: Variant, body: bytes, content_type: str, accept: str
    ) -> Reply:
        with fleet.lock:
            variant.in_flight += 1
            variant.invocations += 1
        try:
            headers = {"Content-Type": content_type or "application/json", "Accept": accept or "application/json"}
            assert variant.pool is not None
            status, answer_headers, data = variant.pool.request(
                "POST", "/invocations", body, headers, timeout=INVOCATION_TIMEOUT
            )
        except (OSError, http.client.HTTPException) as err:
            with fleet.lock:
                variant.errors += 1
            if variant.process is not None and variant.process.poll() is not None:  # the container died
                reason = f"the container exited with code {variant.process.returncode}"
                self._table.mark_down(endpoint, fleet, variant, reason)
                return unavailable(endpoint.name, fleet)
            return model_error(0, f"{type(err).__name__}: {err}")
        finally:
            with fleet.lock:
                variant.in_flight -= 1
        if status >= 500:
            with fleet.lock:
                variant.errors += 1
        if status >= 400:
            return model_error(status, data.decode(errors="replace"))
        content = answer_headers.get("Content-Type") or answer_headers.get("content-type") or "application/json"
        return status, {"Content-Type": content, "x-Amzn-Invoked-Production-Variant": variant.name}, data

    def counters(self, endpoint_name: str) -> dict[str, dict[str, int]]:
        """Invocations, errors and in-flight requests per `<config>/<variant>` (tests, benchmarks)."""
        endpoint = self._table.get(endpoint_name)
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
