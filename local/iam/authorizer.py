"""The gateway's authorizer: who a request comes from (its access key) and whether the template lets it through.

Each role the runtime acts for gets its own credentials (`credentials_for`): an access key id the authorizer maps
back to the role and a session name, the way Lambda hands a function its role's temporary credentials and SageMaker
gives a container its execution role's. A request signed with a key the authorizer did not issue (the test harness,
the simulator, a person's AWS CLI with `AWS_ACCESS_KEY_ID=local`) is an administrator's, as a person's own
credentials on AWS would be, and is not checked.

Decisions are cached per (role, action, resource, condition keys): the policies do not change after provisioning.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any

from local.errors import AwsError
from local.iam import policies
from local.iam.catalog import Catalog
from local.iam.requests import Check


@dataclass(frozen=True)
class Identity:
    role_arn: str
    session: str

    @property
    def arn(self) -> str:
        """The assumed-role ARN AWS names in its AccessDenied messages."""
        account = self.role_arn.split(":")[4]
        return f"arn:aws:sts::{account}:assumed-role/{self.role_arn.rsplit('/', 1)[-1]}/{self.session}"


def trusts(catalog: Catalog, role_arn: str, service: str, context: dict[str, str] | None = None) -> bool:
    """Whether the role's trust policy lets `service` assume it (`sts:AssumeRole` with `context`)."""
    trust = catalog.trust.get(role_arn)
    if trust is None:
        return False
    request = policies.Request(service, "sts:AssumeRole", role_arn, dict(context or {}))
    return policies.evaluate(request, [], [trust]) is policies.Decision.ALLOW


class AccessDenied(AwsError):
    """AWS's AccessDenied; `code` is the service's name for it (`AccessDeniedException` on the JSON APIs)."""


class Authorizer:
    def __init__(self, enforce: bool = True) -> None:
        self.enforce = enforce
        self.catalog: Catalog | None = None
        self._keys: dict[str, Identity] = {}
        self._cache: dict[tuple[Any, ...], policies.Decision] = {}
        self._lock = threading.Lock()
        self.denied: list[dict[str, str]] = []
        """The last 100 denials (principal, action, resource), newest last: `/_local/status` shows them."""
        self.allowed = 0
        """Checks that passed (each role request, job, fleet, delivery counts its checks)."""

    def load(self, catalog: Catalog) -> None:
        """Add a provisioned stack's IAM (several stacks in one gateway add up, as in one account)."""
        with self._lock:
            if self.catalog is None:
                self.catalog = catalog
            else:
                for name in ("roles", "bucket_policies", "function_policies", "queue_policies"):
                    mine, theirs = getattr(self.catalog, name), getattr(catalog, name)
                    for key, documents in theirs.items():
                        mine[key] = documents
                self.catalog.state_machine_roles.update(catalog.state_machine_roles)
                self.catalog.delivery_roles.update(catalog.delivery_roles)
                self.catalog.function_roles.update(catalog.function_roles)
                self.catalog.trust.update(catalog.trust)
            self._cache.clear()

    # Credentials ------------------------------------------------------------------------------------------------

    def credentials_for(self, role_arn: str, session: str) -> dict[str, str]:
        """The environment variables a process acting as `role_arn` gets (`AWS_ACCESS_KEY_ID`, secret, token)."""
        digest = hashlib.sha256(f"{role_arn}|{session}".encode()).hexdigest().upper()
        key = "ASIA" + digest[:16]
        with self._lock:
            self._keys[key] = Identity(role_arn, session)
        return {
            "AWS_ACCESS_KEY_ID": key,
            "AWS_SECRET_ACCESS_KEY": digest[16:56].lower(),
            "AWS_SESSION_TOKEN": "local-session-" + digest[:24].lower(),
        }

    def identity(self, access_key: str) -> Identity | None:
        return self._keys.get(access_key)

    # Decisions --------------------------------------------------------------------------------------------------

    def _decide(self, principal: str, role_arn: str | None, check: Check, resource_policies: list[Any]) -> Any:
        assert self.catalog is not None
        cache_key = (principal, check.key(), id(resource_policies) if resource_policies else 0)
        decision = self._cache.get(cache_key)
        if decision is None:
            identity_policies = self.catalog.roles.get(role_arn, []) if role_arn else []
            context = {"aws:SecureTransport": "true", "aws:PrincipalAccount": self.catalog.account, **check.context}
            request = policies.Request(principal, check.action, check.resource, context)
            decision = policies.evaluate(request, identity_policies, resource_policies)
            self._cache[cache_key] = decision
        return decision

    def _resource_policies(self, check: Check) -> list[Any]:
        assert self.catalog is not None
        if check.action.lower().startswith("s3:") and check.resource.startswith("arn:aws:s3:::"):
            bucket = check.resource[len("arn:aws:s3:::") :].split("/", 1)[0]
            return self.catalog.bucket_policies.get(bucket, [])
        if check.action.lower().startswith("lambda:"):
            return self.catalog.function_policies.get(check.resource, [])
        if check.action.lower().startswith("sqs:"):
            return self.catalog.queue_policies.get(check.resource.rsplit(":", 1)[-1], [])
        return []

    def authorize(self, identity: Identity, checks: list[Check], code: str = "AccessDeniedException") -> None:
        """Raise `AccessDenied` (status 400, or 403 for S3) on the first check the role's policies do not allow."""
        if not self.enforce or self.catalog is None:
            return
        for check in checks:
            resource_policies = self._resource_policies(check)
            decision = self._decide(identity.arn, identity.role_arn, check, resource_policies)
            if decision is not policies.Decision.ALLOW:
                self._deny(identity.arn, check, decision, code, bool(resource_policies))
            self.allowed += 1

    def authorize_service(self, service: str, check: Check, code: str = "AccessDeniedException") -> None:
        """A service principal (`events.amazonaws.com`) acting without a role: only resource policies can allow."""
        if not self.enforce or self.catalog is None:
            return
        resource_policies = self._resource_policies(check)
        decision = self._decide(service, None, check, resource_policies)
        if decision is not policies.Decision.ALLOW:
            self._deny(service, check, decision, code, True)
        self.allowed += 1

    def snapshot(self) -> dict[str, Any]:
        """For `/_local/status`: whether IAM is enforced, the checks passed and the recent denials."""
        with self._lock:
            return {
                "enforced": self.enforce and self.catalog is not None,
                "roles": len(self.catalog.roles) if self.catalog else 0,
                "allowed": self.allowed,
                "denied": list(self.denied),
            }

    def assumable(self, role_arn: str, service: str, context: dict[str, str] | None = None) -> bool:
        """Whether `service` (`sagemaker.amazonaws.com`) may assume the role: its trust policy, evaluated as the
        resource policy of `sts:AssumeRole` (a role outside the template's catalog cannot be assumed)."""
        if not self.enforce or self.catalog is None:
            return True
        return trusts(self.catalog, role_arn, service, context)

    def allows(self, role_arn: str, session: str, check: Check) -> bool:
        try:
            self.authorize(Identity(role_arn, session), [check])
        except AccessDenied:
            return False
        return True

    def _deny(self, principal: str, check: Check, decision: Any, code: str, resource_policy: bool) -> None:
        if decision is policies.Decision.EXPLICIT_DENY:
            kind = "a resource-based policy" if resource_policy else "an identity-based policy"
            reason = f"with an explicit deny in {kind}"
        elif resource_policy and not principal.startswith("arn:"):
            reason = f"because no resource-based policy allows the {check.action} action"
        else:
            reason = f"because no identity-based policy allows the {check.action} action"
        who = f"User: {principal}" if principal.startswith("arn:") else f"Service: {principal}"
        message = f"{who} is not authorized to perform: {check.action} on resource: {check.resource} {reason}"
        with self._lock:
            self.denied.append({"principal": principal, "action": check.action, "resource": check.resource})
            del self.denied[:-100]
        raise AccessDenied(code, message, 403 if code == "AccessDenied" else 400)
