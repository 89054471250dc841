"""`python -m container train|serve|evaluate`: SageMaker runs the image with one of these as its argument."""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable

USAGE = "usage: python -m container train|serve|evaluate"
COMMANDS = {
    "train": "container.training.train",
    "serve": "container.serving.serve",
    "evaluate": "container.evaluation.job",
}


def _command(name: str) -> Callable[..., int | None] | None:
    """The command's `main`, imported lazily: `train` must not need the server, nor `serve` the evaluator."""
    module = COMMANDS.get(name)
    if module is None:
        return None
    try:
        return importlib.import_module(module).main
    except ModuleNotFoundError as error:
        if error.name and module.startswith(error.name):
            raise SystemExit(f"'{name}' is not available in this image: module {module} is missing") from None
        raise


def main(argv: list[str]) -> int:
    command = _command(argv[0]) if argv else None
    if command is None:
        print(USAGE, file=sys.stderr)
        return 2
    takes_args = bool(inspect.signature(command).parameters)
    return int((command(argv[1:]) if takes_args else command()) or 0)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
