"""Every environment variable a handler or the container reads is one the contract names (and the stack sets)."""

from __future__ import annotations

import ast
from pathlib import Path

from contract import environment

REPO = Path(__file__).resolve().parents[2]
READERS = {"env", "env_list", "get", "getenv"}


def _names_read(directory: Path) -> set[str]:
    """String literals passed to `env(...)`, `env_list(...)`, `os.environ.get(...)`, `os.getenv(...)` and
    `os.environ[...]` (names are upper-case: the reads of other dictionaries do not count)."""
    names: set[str] = set()
    for path in directory.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            argument: ast.expr | None = None
            if isinstance(node, ast.Call) and node.args:
                function = node.func
                name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
                if name in READERS:
                    argument = node.args[0]
            elif isinstance(node, ast.Subscript) and "environ" in ast.unparse(node.value):
                argument = node.slice
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str) and argument.value.isupper():
                names.add(argument.value)
    return names


def test_the_lambdas_read_only_names_the_stack_sets() -> None:
    read = _names_read(REPO / "lambdas") - set(environment.MODEL_READ_BACK)  # a Model's environment, not its own
    assert read, "the scan found no reads: it no longer sees how the handlers read their environment"
    assert read <= set(environment.LAMBDA), sorted(read - set(environment.LAMBDA))


def test_the_container_reads_only_names_the_contract_lists() -> None:
    read = _names_read(REPO / "container")
    assert read
    assert read <= set(environment.CONTAINER), sorted(read - set(environment.CONTAINER))


def test_names_are_their_own_values_and_unique() -> None:
    for group in (environment.LAMBDA, environment.MODEL, environment.CONTAINER):
        assert len(group) == len(set(group))
    assert all(getattr(environment, name) == name for name in environment.LAMBDA + environment.CONTAINER)


def test_the_challenger_names_are_the_ones_deploy_sets_and_serve_reads() -> None:
    from container.core import challenger

    assert challenger.SHARE_VARIABLE == environment.CHALLENGER_SHARE
    assert set(environment.CHALLENGER) <= set(environment.CONTAINER)
