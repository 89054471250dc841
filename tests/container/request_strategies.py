"""Hypothesis strategies for request bodies shared by the validation and HTTP tests (a unique module name)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st


def json_values(text: int = 8, size: int = 4, leaves: int = 12) -> st.SearchStrategy[Any]:
    """Arbitrary JSON values (no NaN): what a client can put in any field."""
    return st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=text),
        lambda children: (
            st.lists(children, max_size=size) | st.dictionaries(st.text(max_size=text), children, max_size=size)
        ),
        max_leaves=leaves,
    )


def request_like(values: st.SearchStrategy[Any], instances: int) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with any subset of the request's fields, each holding any JSON value."""
    fields = ("context", "observation", "actions", "event_id")
    optional: dict[str, st.SearchStrategy[Any]] = {name: values for name in fields}
    optional["instances"] = st.lists(values, max_size=instances)
    return st.fixed_dictionaries({}, optional=optional)
