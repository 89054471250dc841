"""cdk-nag (AWS Solutions) and cfn-lint on the synthesized template."""

from __future__ import annotations

import re

from aws_cdk import Validations
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import lint_file

ACK_KEY = Validations.ACKNOWLEDGED_RULES_METADATA_KEY
FINDING = re.compile(r"^(Annotation::)?AwsSolutions-[A-Za-z]+\d+(\[.+\])?$")


def test_cdk_nag_has_no_unacknowledged_findings(synth):
    report = AwsSolutionsChecks(synth.app).validate_scope(synth.app)
    findings = [
        f"{v.rule_name} at {', '.join(str(r.construct_path) for r in v.violating_resources)}" for v in report.violations
    ]
    assert report.success, "\n".join(findings)
    assert not findings


def _acknowledgments(synth) -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []
    for construct in synth.app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == ACK_KEY:
                found.extend((construct.node.path, rule, reason) for rule, reason in entry.data.items())
    return found


def test_every_acknowledgment_is_narrow_and_has_a_reason(synth):
    acknowledgments = _acknowledgments(synth)
    assert acknowledgments
    for path, rule, reason in acknowledgments:
        assert FINDING.match(rule), f"{path}: {rule}"
        assert len(reason.strip()) >= 30, f"{path}: {rule} has no real reason"
        assert path != synth.stack.node.path, f"{rule} is acknowledged for the whole stack"
        if "IAM5" in rule:
            # Each wildcard finding is named exactly: `AwsSolutions-IAM5[Resource::...]`, never the bare rule.
            assert "[Resource::" in rule, f"{path}: {rule}"


def test_cfn_lint_reports_no_errors(template_file):
    matches = lint_file(template_file)
    errors = [str(m) for m in matches if m.rule.id.startswith("E")]
    assert not errors, "\n".join(errors)
