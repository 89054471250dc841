"""The train/holdout split: a stable hash of `event_id`, so train and evaluate agree without coordination."""

from __future__ import annotations

import hashlib


def is_holdout(event_id: str, share: float) -> bool:
    """True when the row belongs to the holdout split (the same answer in every process, forever)."""
    digest = hashlib.sha256(event_id.encode("utf-8")).hexdigest()
    return int(digest[:8], 16) / 2**32 < share
