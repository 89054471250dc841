"""The contract package stands alone: standard library only, so every deployable can carry it as it is."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

CONTRACT = Path(__file__).resolve().parents[2] / "contract"


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_contract_imports_only_the_standard_library_and_itself() -> None:
    modules = sorted(CONTRACT.glob("*.py"))
    assert len(modules) >= 8
    for module in modules:
        outside = _imported_roots(module) - set(sys.stdlib_module_names) - {"__future__", "contract"}
        assert not outside, f"{module.name} imports {sorted(outside)}"
