"""What an Athena query needs from its caller besides `athena:StartQueryExecution`.

Athena runs a query with the caller's permissions: it reads the work group, resolves the tables in the Glue Data
Catalog, reads the tables' S3 data and writes results (and an `UNLOAD`'s output) to S3, each as the caller. A table
read needs the Glue action on the table and on its ancestors, the database and the catalog ("Configure access to
databases and tables in the AWS Glue Data Catalog", Athena User Guide,
https://docs.aws.amazon.com/athena/latest/ug/fine-grained-access-to-glue-resources.html; the ARN forms: "Specifying
AWS Glue resource ARNs", https://docs.aws.amazon.com/glue/latest/dg/glue-specifying-resource-arns.html). The gateway
adds these checks to a role's `StartQueryExecution`, so a join role that cannot read `rewards/` fails locally as it
would on Athena.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlparse

from local.iam.requests import Check

_NAME = r'(?:"[^"]+"|[A-Za-z_][\w]*)'
_TABLE_REFERENCE = re.compile(rf"\b(?:FROM|JOIN)\s+({_NAME}(?:\s*\.\s*{_NAME})?)", re.IGNORECASE)
_UNLOAD_TARGET = re.compile(r"\)\s*TO\s+'(s3://[^']+)'", re.IGNORECASE)


def tables(sql: str, database: str) -> list[tuple[str, str]]:
    """The (database, table) pairs a query reads, in order, without repeats (`FROM x` / `JOIN db.x`)."""
    found: list[tuple[str, str]] = []
    for match in _TABLE_REFERENCE.finditer(sql):
        parts = [p.strip().strip('"') for p in match.group(1).split(".")]
        pair = (parts[0], parts[1]) if len(parts) == 2 else (database, parts[0])
        if pair not in found:
            found.append(pair)
    return found


def _s3(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")


def implied_checks(
    sql: str,
    database: str,
    workgroup: str,
    output_location: str | None,
    table_locations: Mapping[tuple[str, str], str],
    region: str,
    account: str,
) -> list[Check]:
    """The checks Athena makes with the caller's permissions for one `StartQueryExecution`."""
    glue = f"arn:aws:glue:{region}:{account}:"
    checks = [Check("athena:GetWorkGroup", f"arn:aws:athena:{region}:{account}:workgroup/{workgroup}")]
    for db, table in tables(sql, database):
        if (db, table) not in table_locations:
            continue  # a name Athena will not find (a CTE, a typo): the engine answers for it
        for resource in (f"{glue}catalog", f"{glue}database/{db}", f"{glue}table/{db}/{table}"):
            checks.append(Check("glue:GetTable", resource))
        bucket, prefix = _s3(table_locations[(db, table)])
        checks.append(Check("s3:GetBucketLocation", f"arn:aws:s3:::{bucket}"))
        checks.append(Check("s3:ListBucket", f"arn:aws:s3:::{bucket}", {"s3:prefix": prefix}))
        checks.append(Check("s3:GetObject", f"arn:aws:s3:::{bucket}/{prefix}"))
    outputs = [output_location] if output_location else []
    outputs.extend(_UNLOAD_TARGET.findall(sql))
    for uri in outputs:
        bucket, prefix = _s3(uri)
        checks.append(Check("s3:PutObject", f"arn:aws:s3:::{bucket}/{prefix}"))
    return checks
