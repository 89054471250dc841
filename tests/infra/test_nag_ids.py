"""`infra.nag.logical_id`: acknowledgments name exact template resources, so a construct without one is an error."""

from __future__ import annotations

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.nag import logical_id


def test_an_l2_resolves_to_its_default_child_and_an_l1_to_itself() -> None:
    stack = Stack(App(), "S")
    queue = sqs.Queue(stack, "Queue")
    child = queue.node.default_child
    assert child is not None
    assert logical_id(queue) == logical_id(child)
    assert logical_id(queue).startswith("Queue")


def test_a_construct_with_no_template_resource_is_named_in_the_error() -> None:
    stack = Stack(App(), "S")
    with pytest.raises(TypeError, match="S/Group is not a template resource"):
        logical_id(Construct(stack, "Group"))
