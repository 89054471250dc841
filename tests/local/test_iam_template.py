"""The real template's roles, read the way the local authorizer reads them: each is assumable by the service that
uses it, with the context that service sends."""

from __future__ import annotations

import json
from pathlib import Path

from local.iam.authorizer import trusts
from local.iam.catalog import from_raw_template

ACCOUNT = "123456789012"


def test_every_role_is_assumable_by_the_service_that_uses_it(real_template: Path) -> None:
    catalog = from_raw_template(json.loads(real_template.read_text()), "BanditPipeline", ACCOUNT, "us-east-1")
    assert catalog.function_roles and catalog.delivery_roles and catalog.state_machine_roles
    for function, role in catalog.function_roles.items():
        assert trusts(catalog, role, "lambda.amazonaws.com"), function
        assert not trusts(catalog, role, "sagemaker.amazonaws.com", {"aws:SourceAccount": ACCOUNT}), function
    for stream, role in catalog.delivery_roles.items():
        assert trusts(catalog, role, "firehose.amazonaws.com", {"sts:ExternalId": ACCOUNT}), stream
        assert not trusts(catalog, role, "firehose.amazonaws.com", {"sts:ExternalId": "999999999999"}), stream
    for machine, role in catalog.state_machine_roles.items():
        sent = {"aws:SourceArn": machine, "aws:SourceAccount": ACCOUNT}  # what Step Functions sends (confused deputy)
        assert trusts(catalog, role, "states.amazonaws.com", sent), machine
        assert not trusts(catalog, role, "states.amazonaws.com", {**sent, "aws:SourceAccount": "999999999999"})
