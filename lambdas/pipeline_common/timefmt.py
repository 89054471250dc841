"""The contract's timestamp format (`contract.timefmt`) as the handlers use it: a bad timestamp in an event is an
`InvalidEvent`, the error the state machine sees for input that retrying cannot fix."""

from __future__ import annotations

from datetime import datetime

from contract import timefmt
from contract.timefmt import hour_partition, iso, now
from pipeline_common.errors import InvalidEvent

__all__ = ["hour_partition", "iso", "now", "parse_iso"]


def parse_iso(text: str) -> datetime:
    """Parse an ISO-8601 timestamp; a naive one is taken as UTC."""
    try:
        return timefmt.parse_iso(text)
    except ValueError as error:
        raise InvalidEvent(str(error)) from error
