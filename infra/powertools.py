"""The public Powertools for AWS Lambda (Python) layer, in the regions where AWS publishes it, and nowhere else.

The layer is published per region, from one account in the commercial partition and from other accounts in China and
GovCloud (where it exists only in some regions). A region outside this table has no such layer: the functions could
not be created there. Where the stack's region is known at synth, synth stops with `PowertoolsLayerUnavailable`;
for the environment-agnostic stack the layer ARN comes from a `Mappings` entry keyed by region, so CloudFormation
stops the deployment before it creates anything with `Unable to get mapping for
PowertoolsLayerPublishedRegions::<region>::LayerArn` instead of a Lambda error about a layer it cannot find.

Source: "Installation" of Powertools for AWS Lambda (Python), Lambda Layer: all regional layer ARNs, AWS China
regions, AWS GovCloud regions (https://docs.aws.amazon.com/powertools/python/latest/getting-started/install/).
"""

from __future__ import annotations

from aws_cdk import Aws, CfnMapping, Stack, Token
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

LAYER_NAME = "AWSLambdaPowertoolsPythonV3-python312-x86_64"
"""Powertools v3 for Python 3.12 on x86_64 (the functions' runtime and architecture)."""
LAYER_VERSION = 27
"""The same version number in every region and partition that publishes it."""
MAPPING_ID = "PowertoolsLayerPublishedRegions"
"""Logical id of the `Mappings` entry: CloudFormation's error for an absent region names it."""
MAPPING_KEY = "LayerArn"

COMMERCIAL_ACCOUNT = "017000801446"
COMMERCIAL_REGIONS = (
    "af-south-1",
    "ap-east-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
)
OTHER_PARTITIONS: dict[str, tuple[str, str]] = {
    "cn-north-1": ("aws-cn", "498634801083"),
    "us-gov-east-1": ("aws-us-gov", "165087284144"),
    "us-gov-west-1": ("aws-us-gov", "165093116878"),
}
"""Region -> (partition, publishing account) outside the commercial partition (cn-northwest-1 has no layer)."""


class PowertoolsLayerUnavailable(ValueError):
    """The stack's region has no published Powertools layer."""

    def __init__(self, region: str):
        super().__init__(
            f"the Powertools layer {LAYER_NAME}:{LAYER_VERSION} is not published in region {region!r}, so the "
            f"stack's Lambda functions cannot be created there; it is published in {', '.join(published_regions())}. "
            "Deploy to one of those regions, or publish the layer in your account and change infra/powertools.py."
        )
        self.region = region


def published_regions() -> list[str]:
    return sorted([*COMMERCIAL_REGIONS, *OTHER_PARTITIONS])


def layer_arn(region: str) -> str:
    """The layer's ARN in `region`; `PowertoolsLayerUnavailable` where AWS does not publish it."""
    if region in OTHER_PARTITIONS:
        partition, account = OTHER_PARTITIONS[region]
    elif region in COMMERCIAL_REGIONS:
        partition, account = "aws", COMMERCIAL_ACCOUNT
    else:
        raise PowertoolsLayerUnavailable(region)
    return f"arn:{partition}:lambda:{region}:{account}:layer:{LAYER_NAME}:{LAYER_VERSION}"


def powertools_layer(scope: Construct, construct_id: str) -> lambda_.ILayerVersion:
    """The layer of the stack's region: literal when the region is known at synth, a region mapping otherwise."""
    stack = Stack.of(scope)
    if not Token.is_unresolved(stack.region):
        arn = layer_arn(stack.region)
    else:
        mapping = CfnMapping(
            stack,
            MAPPING_ID,
            mapping={region: {MAPPING_KEY: layer_arn(region)} for region in published_regions()},
            lazy=False,
        )
        mapping.override_logical_id(MAPPING_ID)
        arn = mapping.find_in_map(Aws.REGION, MAPPING_KEY)
    return lambda_.LayerVersion.from_layer_version_arn(scope, construct_id, arn)
