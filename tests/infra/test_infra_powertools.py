"""The Powertools layer exists per region only where AWS publishes it; elsewhere synth or deployment stops early."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Environment
from aws_cdk.assertions import Template

from app import CDK_JSON
from infra import powertools
from infra.settings import load_settings
from infra.stack import BanditPipelineStack


def _stack(tmp_path: Path, region: str) -> BanditPipelineStack:
    """The project's stack pinned to one region (the app itself stays environment-agnostic)."""
    return BanditPipelineStack(
        App(context=json.loads(CDK_JSON.read_text())["context"], outdir=str(tmp_path / "out")),
        "Regional",
        settings=load_settings(),
        env=Environment(account="123456789012", region=region),
    )


def test_layer_arns_per_partition_follow_the_powertools_docs() -> None:
    name = "AWSLambdaPowertoolsPythonV3-python312-x86_64:27"
    assert powertools.layer_arn("eu-west-1") == f"arn:aws:lambda:eu-west-1:017000801446:layer:{name}"
    assert powertools.layer_arn("cn-north-1") == f"arn:aws-cn:lambda:cn-north-1:498634801083:layer:{name}"
    assert powertools.layer_arn("us-gov-west-1") == f"arn:aws-us-gov:lambda:us-gov-west-1:165093116878:layer:{name}"
    assert powertools.layer_arn("us-gov-east-1") == f"arn:aws-us-gov:lambda:us-gov-east-1:165087284144:layer:{name}"


@pytest.mark.parametrize("region", ["cn-northwest-1", "eu-isoe-west-1", "us-iso-east-1"])
def test_a_region_without_the_layer_is_refused_with_the_region_named(region: str) -> None:
    with pytest.raises(powertools.PowertoolsLayerUnavailable, match=f"not published in region '{region}'"):
        powertools.layer_arn(region)


def test_synth_for_a_known_region_without_the_layer_fails_naming_it(tmp_path: Path) -> None:
    with pytest.raises(powertools.PowertoolsLayerUnavailable, match="cn-northwest-1"):
        _stack(tmp_path, "cn-northwest-1")


def test_an_environment_agnostic_template_maps_only_published_regions(synth) -> None:
    mapping = synth.raw["Mappings"][powertools.MAPPING_ID]
    assert set(mapping) == set(powertools.published_regions())
    assert "cn-northwest-1" not in mapping
    assert mapping["us-gov-west-1"][powertools.MAPPING_KEY].startswith(
        "arn:aws-us-gov:lambda:us-gov-west-1:165093116878:"
    )
    lookup = {"Fn::FindInMap": [powertools.MAPPING_ID, {"Ref": "AWS::Region"}, powertools.MAPPING_KEY]}
    functions = synth.of_type("AWS::Lambda::Function")
    assert functions
    for lid, function in functions.items():
        assert function["Properties"]["Layers"] == [lookup], lid


def test_a_known_published_region_gets_the_literal_arn(tmp_path: Path) -> None:
    stack = _stack(tmp_path, "us-gov-west-1")
    template = Template.from_stack(stack).to_json()
    layers = {
        json.dumps(f["Properties"]["Layers"])
        for f in template["Resources"].values()
        if f["Type"] == "AWS::Lambda::Function"
    }
    assert layers == {json.dumps([powertools.layer_arn("us-gov-west-1")])}
    assert powertools.MAPPING_ID not in template.get("Mappings", {})
