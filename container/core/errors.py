"""The image's one exception root: every failure a job raises on purpose is a `ContainerError`.

A caller (the entry point, the server, a test) can then tell a known, reported failure - bad data, bad settings, a
missing artifact, a bad request - from a bug, with one `except`. Each error also keeps its builtin base
(`ValueError`, `RuntimeError`) so existing handlers keep working.
"""

from __future__ import annotations


class ContainerError(Exception):
    """Base of every error the image raises on purpose."""
