"""AWS's policy evaluation logic for one account, as pure functions over policy documents.

Written here rather than taken from moto (`moto.iam.access_control.IAMPolicy`, moto 5.2.5), because moto's
evaluator differs from AWS in ways the template exercises: an Allow statement whose Condition does not match
answers DENIED instead of not applying, `?` is not a wildcard, patterns are raw regular expressions (a `.` in an
ARN matches anything), actions match case-sensitively, and principals other than `*` are skipped.

The rules (IAM User Guide, "Policy evaluation logic", https://docs.aws.amazon.com/IAM/latest/UserGuide/
reference_policies_evaluation-logic.html; "Condition operators", .../reference_policies_elements_condition_operators
.html):

- an explicit Deny in any applicable policy wins; else an Allow from an identity-based policy or a resource-based
  policy (same account) allows; else the request is implicitly denied;
- `Action`/`NotAction` match case-insensitively, `Resource`/`NotResource` case-sensitively, both with `*` (any run of
  characters) and `?` (one character);
- condition operators are ANDed, keys within an operator ANDed, values of a key ORed (NORed for negated operators);
  a key absent from the request context makes the condition false, except for negated operators (true),
  `...IfExists` (true) and `Null`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import Any


class Decision(Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


@dataclass(frozen=True)
class Request:
    """One authorization question: may `principal` (an ARN, or a service such as `events.amazonaws.com`) perform
    `action` on `resource` with `context` (condition keys; names compared case-insensitively, as AWS does)."""

    principal: str
    action: str
    resource: str
    context: Mapping[str, Any] = field(default_factory=dict)


class PolicyError(ValueError):
    """A policy document the evaluator cannot read (an unknown condition operator, a missing Effect)."""


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


@lru_cache(maxsize=4096)
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    """`*` and `?` as IAM's wildcards, every other character literal."""
    parts = []
    for char in glob:
        parts.append(".*" if char == "*" else "." if char == "?" else re.escape(char))
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def matches(glob: str, value: str, *, ignore_case: bool = False) -> bool:
    return _pattern(glob, ignore_case).fullmatch(value) is not None


def _arn_matches(glob: str, value: str) -> bool:
    """ArnLike / ArnEquals: each of the six colon-separated parts matched on its own (`*`/`?` inside a part)."""
    want, have = glob.split(":", 5), value.split(":", 5)
    if len(want) != 6 or len(have) != 6:
        return False
    return all(matches(w, h) for w, h in zip(want, have, strict=True))


def _string_equals(want: str, have: str) -> bool:
    return want == have


def _string_equals_ignore_case(want: str, have: str) -> bool:
    return want.lower() == have.lower()


def _string_like(want: str, have: str) -> bool:
    return matches(want, have)


def _bool(want: str, have: str) -> bool:
    return str(want).lower() == str(have).lower()


def _numeric(compare: Any) -> Any:
    def check(want: str, have: str) -> bool:
        try:
            return bool(compare(float(have), float(want)))
        except ValueError:
            return False

    return check


_OPERATORS: dict[str, tuple[Any, bool]] = {
    # name -> (match one policy value against one request value, negated)
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_string_equals_ignore_case, False),
    "StringNotEqualsIgnoreCase": (_string_equals_ignore_case, True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "ArnEquals": (_arn_matches, False),
    "ArnLike": (_arn_matches, False),
    "ArnNotEquals": (_arn_matches, True),
    "ArnNotLike": (_arn_matches, True),
    "Bool": (_bool, False),
    "NumericEquals": (_numeric(lambda a, b: a == b), False),
    "NumericNotEquals": (_numeric(lambda a, b: a == b), True),
    "NumericLessThan": (_numeric(lambda a, b: a < b), False),
    "NumericLessThanEquals": (_numeric(lambda a, b: a <= b), False),
    "NumericGreaterThan": (_numeric(lambda a, b: a > b), False),
    "NumericGreaterThanEquals": (_numeric(lambda a, b: a >= b), False),
}


def _lookup(context: Mapping[str, Any], key: str) -> list[str] | None:
    lowered = key.lower()
    for name, value in context.items():
        if name.lower() == lowered:
            return [str(v).lower() if isinstance(v, bool) else str(v) for v in _as_list(value)]
    return None


def _condition_holds(operator: str, key: str, wanted: list[Any], context: Mapping[str, Any]) -> bool:
    qualifier = ""
    if ":" in operator:
        qualifier, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    present = _lookup(context, key)
    if base == "Null":
        return all((present is None) == (str(w).lower() == "true") for w in wanted)
    if base not in _OPERATORS:
        raise PolicyError(f"condition operator {operator} is not supported by the local evaluator")
    compare, negated = _OPERATORS[base]
    if present is None:
        return if_exists or negated
    wanted_text = [str(w).lower() if isinstance(w, bool) else str(w) for w in wanted]

    def one(have: str) -> bool:
        hit = any(compare(w, have) for w in wanted_text)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(one(have) for have in present)
    return any(one(have) for have in present)


def conditions_hold(condition: Mapping[str, Any] | None, context: Mapping[str, Any]) -> bool:
    for operator, keys in (condition or {}).items():
        for key, wanted in keys.items():
            if not _condition_holds(operator, key, _as_list(wanted), context):
                return False
    return True


def _principal_matches(principal_element: Any, principal: str) -> bool:
    """A resource policy's `Principal`: `*`, `{"AWS": ...}` (ARN, account id or root ARN), `{"Service": ...}`."""
    if principal_element == "*":
        return True
    if not isinstance(principal_element, Mapping):
        return False
    for kind, values in principal_element.items():
        for value in _as_list(values):
            value = str(value)
            if value == "*" or value == principal:
                return True
            if kind == "AWS":
                account = value if value.isdigit() else _root_account(value)
                if account and principal.split(":")[4:5] == [account]:
                    return True
    return False


def _root_account(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[4] if len(parts) == 6 and parts[5] == "root" else None


def _statement_applies(statement: Mapping[str, Any], request: Request, resource_policy: bool) -> bool:
    if resource_policy:
        if "Principal" in statement and not _principal_matches(statement["Principal"], request.principal):
            return False
        if "NotPrincipal" in statement and _principal_matches(statement["NotPrincipal"], request.principal):
            return False
    if "Action" in statement:
        if not any(matches(a, request.action, ignore_case=True) for a in _as_list(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(matches(a, request.action, ignore_case=True) for a in _as_list(statement["NotAction"])):
            return False
    else:
        raise PolicyError(f"statement {statement.get('Sid', '')!r} has neither Action nor NotAction")
    if "Resource" in statement:
        if not any(matches(r, request.resource) for r in _as_list(statement["Resource"])):
            return False
    elif "NotResource" in statement:
        if any(matches(r, request.resource) for r in _as_list(statement["NotResource"])):
            return False
    elif not resource_policy:
        raise PolicyError(f"statement {statement.get('Sid', '')!r} has neither Resource nor NotResource")
    return conditions_hold(statement.get("Condition"), request.context)


def statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(_as_list(document.get("Statement")))


def evaluate(
    request: Request,
    identity_policies: Iterable[Mapping[str, Any]] = (),
    resource_policies: Iterable[Mapping[str, Any]] = (),
) -> Decision:
    """The decision for `request` under the principal's identity-based policies and the resource's policies."""
    allowed = False
    for documents, resource_policy in ((identity_policies, False), (resource_policies, True)):
        for document in documents:
            for statement in statements(document):
                effect = statement.get("Effect")
                if effect not in ("Allow", "Deny"):
                    raise PolicyError(f"statement {statement.get('Sid', '')!r} has Effect {effect!r}")
                if not _statement_applies(statement, request, resource_policy):
                    continue
                if effect == "Deny":
                    return Decision.EXPLICIT_DENY
                allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY
