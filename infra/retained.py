"""What `cdk destroy` leaves behind, and the `cdk import` resource mapping that takes it back into a new stack.

The model registry, the experiment record (its watermark and serving model) and the join records are retained on
stack deletion under fixed names: a new deployment must find the same data, not start an empty registry under a new
name. CloudFormation does not adopt an existing resource on create (a table name that exists fails the deployment
with "already exists"), so after `cdk destroy` the way back is `cdk import` with the mapping this module writes,
then `cdk deploy` (docs/infrastructure.md, "Destroy and deploy again").

    python -m infra.retained cdk.out/BanditPipeline.template.json > import-mapping.json
    npx cdk import BanditPipeline --resource-mapping import-mapping.json
    npx cdk deploy BanditPipeline
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

IMPORT_IDENTIFIERS: dict[str, str] = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::Logs::LogGroup": "LogGroupName",
}
"""Resource type -> the property CloudFormation's import identifies it by (`ResourceToImport.ResourceIdentifier`)."""


class RetainedResourceError(ValueError):
    """A retained resource the import mapping cannot name."""


def retained(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Resources that stack deletion leaves in the account (`DeletionPolicy: Retain`)."""
    return {
        lid: resource
        for lid, resource in template.get("Resources", {}).items()
        if resource.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate")
    }


def fixed_name(resource: dict[str, Any]) -> str | None:
    """The literal physical name a resource is created with; None when CloudFormation generates it."""
    rtype = resource["Type"]
    if rtype not in IMPORT_IDENTIFIERS:
        raise RetainedResourceError(
            f"{rtype} is retained on stack deletion but infra/retained.py does not know its import identifier; "
            "add it to IMPORT_IDENTIFIERS (or stop retaining it)"
        )
    name = resource.get("Properties", {}).get(IMPORT_IDENTIFIERS[rtype])
    return name if isinstance(name, str) else None


def import_mapping(template: dict[str, Any]) -> dict[str, dict[str, str]]:
    """`cdk import --resource-mapping` content: logical id -> {identifier property: name} per retained named resource.

    Retained resources with generated names (the buckets) are not in it: a new deployment creates new ones and
    never collides; the old ones keep their data until deleted by hand.
    """
    mapping: dict[str, dict[str, str]] = {}
    for lid, resource in sorted(retained(template).items()):
        name = fixed_name(resource)
        if name is not None:
            mapping[lid] = {IMPORT_IDENTIFIERS[resource["Type"]]: name}
    return mapping


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m infra.retained TEMPLATE_JSON > import-mapping.json", file=sys.stderr)
        return 2
    template = json.loads(Path(argv[0]).read_text())
    print(json.dumps(import_mapping(template), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
