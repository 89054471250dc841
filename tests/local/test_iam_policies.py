"""The local policy evaluator against hand-worked cases of AWS's evaluation logic (local/iam/policies.py)."""

from __future__ import annotations

import json

import pytest
from moto.iam.access_control import IAMPolicy, PermissionResult

from local.iam.policies import Decision, PolicyError, Request, evaluate, matches

ROLE = "arn:aws:sts::123456789012:assumed-role/train/fn"
BUCKET = "arn:aws:s3:::bandit-data"


def allow(action: object, resource: object, condition: dict | None = None) -> dict:
    statement = {"Effect": "Allow", "Action": action, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def decide(request: Request, *identity: dict, resource: tuple[dict, ...] = ()) -> Decision:
    return evaluate(request, list(identity), list(resource))


def test_no_policy_is_an_implicit_deny() -> None:
    assert decide(Request(ROLE, "s3:GetObject", f"{BUCKET}/joined/a")) is Decision.IMPLICIT_DENY


def test_prefix_wildcard_allows_only_below_the_prefix() -> None:
    policy = allow("s3:GetObject", f"{BUCKET}/joined/*")
    assert decide(Request(ROLE, "s3:GetObject", f"{BUCKET}/joined/run-1/part.json"), policy) is Decision.ALLOW
    assert decide(Request(ROLE, "s3:GetObject", f"{BUCKET}/rewards/x"), policy) is Decision.IMPLICIT_DENY


def test_action_matching_ignores_case_and_resource_matching_does_not() -> None:
    policy = allow("S3:getobject", f"{BUCKET}/Models/*")
    assert decide(Request(ROLE, "s3:GetObject", f"{BUCKET}/Models/m"), policy) is Decision.ALLOW
    assert decide(Request(ROLE, "s3:GetObject", f"{BUCKET}/models/m"), policy) is Decision.IMPLICIT_DENY


def test_question_mark_is_one_character_and_dots_are_literal() -> None:
    assert matches("dynamodb:?etItem", "dynamodb:GetItem", ignore_case=True)
    assert not matches("dynamodb:?etItem", "dynamodb:BatchGetItem", ignore_case=True)
    assert not matches("arn:aws:s3:::a.b/*", "arn:aws:s3:::axb/k")


def test_explicit_deny_wins_over_any_allow() -> None:
    deny = {"Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}
    request = Request(ROLE, "s3:PutObject", f"{BUCKET}/models/m")
    assert decide(request, allow("s3:PutObject", "*"), deny) is Decision.EXPLICIT_DENY


def test_not_action_and_not_resource() -> None:
    policy = {"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "NotResource": f"{BUCKET}/secret/*"}]}
    assert decide(Request(ROLE, "s3:GetObject", f"{BUCKET}/open/k"), policy) is Decision.ALLOW
    assert decide(Request(ROLE, "s3:GetObject", f"{BUCKET}/secret/k"), policy) is Decision.IMPLICIT_DENY
    assert decide(Request(ROLE, "iam:PassRole", "*"), policy) is Decision.IMPLICIT_DENY


def test_pass_role_needs_the_passed_to_service_condition() -> None:
    role = "arn:aws:iam::123456789012:role/exec"
    policy = allow("iam:PassRole", role, {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}})
    to_sagemaker = Request(ROLE, "iam:PassRole", role, {"iam:PassedToService": "sagemaker.amazonaws.com"})
    to_lambda = Request(ROLE, "iam:PassRole", role, {"iam:PassedToService": "lambda.amazonaws.com"})
    assert decide(to_sagemaker, policy) is Decision.ALLOW
    assert decide(to_lambda, policy) is Decision.IMPLICIT_DENY
    assert decide(Request(ROLE, "iam:PassRole", role), policy) is Decision.IMPLICIT_DENY  # key absent: false


def test_an_allow_whose_condition_fails_does_not_deny_another_allow() -> None:
    conditional = allow("s3:ListBucket", BUCKET, {"StringLike": {"s3:prefix": ["joined/*"]}})
    plain = allow("s3:ListBucket", BUCKET)
    request = Request(ROLE, "s3:ListBucket", BUCKET, {"s3:prefix": "rewards/"})
    assert decide(request, conditional) is Decision.IMPLICIT_DENY
    assert decide(request, conditional, plain) is Decision.ALLOW


def test_where_moto_iam_policy_differs_from_aws() -> None:
    """Why the local runtime does not use moto's evaluator (moto 5.2.5): each answer below is not AWS's."""

    def moto(document: dict, action: str, resource: str, context: dict | None = None) -> PermissionResult:
        return IAMPolicy(json.dumps(document)).is_action_permitted(action, resource, None, context)

    equals = allow("s3:ListBucket", BUCKET, {"StringEquals": {"s3:prefix": "joined/"}})
    like = allow("s3:ListBucket", BUCKET, {"StringLike": {"s3:prefix": "joined/*"}})
    assert moto(equals, "s3:ListBucket", BUCKET, {"s3:prefix": "rewards/"}) is PermissionResult.DENIED  # not neutral
    assert moto(like, "s3:ListBucket", BUCKET, {"s3:prefix": "rewards/"}) is PermissionResult.PERMITTED  # ignored
    assert moto(allow("s3:GetObject", f"{BUCKET}/?"), "s3:GetObject", f"{BUCKET}/x") is PermissionResult.NEUTRAL
    assert moto(allow("S3:getobject", "*"), "s3:GetObject", "k") is PermissionResult.NEUTRAL
    assert moto(allow("s3:GetObject", "arn:aws:s3:::a.b/*"), "s3:GetObject", "arn:aws:s3:::axb/k") is (
        PermissionResult.PERMITTED
    )
    request = Request(ROLE, "s3:ListBucket", BUCKET, {"s3:prefix": "rewards/"})
    assert decide(request, equals) is decide(request, like) is Decision.IMPLICIT_DENY


def test_negated_operators_hold_when_the_key_is_absent_and_if_exists() -> None:
    deny_other = {
        "Statement": [
            {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"StringNotEquals": {"aws:x": "1"}}}
        ]
    }
    assert decide(Request(ROLE, "s3:GetObject", "k"), allow("*", "*"), deny_other) is Decision.EXPLICIT_DENY
    if_exists = allow("*", "*", {"StringEqualsIfExists": {"aws:x": "1"}})
    assert decide(Request(ROLE, "s3:GetObject", "k"), if_exists) is Decision.ALLOW
    assert decide(Request(ROLE, "s3:GetObject", "k", {"aws:x": "2"}), if_exists) is Decision.IMPLICIT_DENY


def test_secure_transport_deny_in_a_bucket_policy() -> None:
    bucket_policy = {
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "s3:*",
                "Resource": [BUCKET, f"{BUCKET}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]
    }
    identity = allow("s3:GetObject", f"{BUCKET}/*")
    tls = Request(ROLE, "s3:GetObject", f"{BUCKET}/k", {"aws:SecureTransport": "true"})
    plain = Request(ROLE, "s3:GetObject", f"{BUCKET}/k", {"aws:SecureTransport": "false"})
    assert decide(tls, identity, resource=(bucket_policy,)) is Decision.ALLOW
    assert decide(plain, identity, resource=(bucket_policy,)) is Decision.EXPLICIT_DENY


def test_a_resource_policy_alone_allows_a_service_principal_with_its_source_arn() -> None:
    function = "arn:aws:lambda:us-east-1:123456789012:function:trigger"
    rule = "arn:aws:events:us-east-1:123456789012:rule/reward-created"
    permission = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "lambda:InvokeFunction",
                "Resource": function,
                "Condition": {"ArnLike": {"AWS:SourceArn": rule}},
            }
        ]
    }
    ok = Request("events.amazonaws.com", "lambda:InvokeFunction", function, {"aws:SourceArn": rule})
    other_rule = Request("events.amazonaws.com", "lambda:InvokeFunction", function, {"aws:SourceArn": rule + "x"})
    other_service = Request("sns.amazonaws.com", "lambda:InvokeFunction", function, {"aws:SourceArn": rule})
    assert decide(ok, resource=(permission,)) is Decision.ALLOW
    assert decide(other_rule, resource=(permission,)) is Decision.IMPLICIT_DENY
    assert decide(other_service, resource=(permission,)) is Decision.IMPLICIT_DENY


def test_arn_like_matches_part_by_part() -> None:
    policy = allow("*", "*", {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::bandit-*"}})
    assert decide(Request(ROLE, "x:Y", "*", {"aws:SourceArn": "arn:aws:s3:::bandit-data"}), policy) is Decision.ALLOW
    assert decide(Request(ROLE, "x:Y", "*", {"aws:SourceArn": "arn:aws:sqs:::bandit-data"}), policy) is (
        Decision.IMPLICIT_DENY
    )


def test_an_unknown_condition_operator_is_refused() -> None:
    with pytest.raises(PolicyError, match="DateLaterThan"):
        decide(Request(ROLE, "s3:GetObject", "k", {"aws:x": "1"}), allow("*", "*", {"DateLaterThan": {"aws:x": "1"}}))
