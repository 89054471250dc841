"""The split is the contract's stable hash, so train and evaluate pick the same rows."""

from __future__ import annotations

import hashlib

from container.core.split import is_holdout


def test_matches_the_contract_formula() -> None:
    for i in range(200):
        event_id = f"event-{i}"
        expected = int(hashlib.sha256(event_id.encode()).hexdigest()[:8], 16) / 2**32 < 0.3
        assert is_holdout(event_id, 0.3) is expected


def test_share_is_respected_and_stable() -> None:
    ids = [f"e{i}" for i in range(5000)]
    holdout = [e for e in ids if is_holdout(e, 0.2)]
    assert 0.17 < len(holdout) / len(ids) < 0.23
    assert holdout == [e for e in ids if is_holdout(e, 0.2)]
    assert not any(is_holdout(e, 0.0) for e in ids)
