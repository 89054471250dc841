"""Every error the image raises on purpose derives from one root, so a caller tells a reported failure from a bug."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import container
from container.core.errors import ContainerError


def _container_modules() -> list[str]:
    return [info.name for info in pkgutil.walk_packages(container.__path__, prefix="container.")]


def test_every_exception_the_image_defines_derives_from_container_error() -> None:
    defined = []
    for name in _container_modules():
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == name and issubclass(cls, BaseException):
                defined.append(cls)
    assert len(defined) >= 10, [cls.__qualname__ for cls in defined]
    outside = [f"{cls.__module__}.{cls.__qualname__}" for cls in defined if not issubclass(cls, ContainerError)]
    assert outside == []
