"""The one timestamp format of the data lake (ISO-8601 UTC, milliseconds, `Z`) and the Firehose hour folders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline_common.errors import InvalidEvent

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso(moment: datetime) -> str:
    """`2026-11-23T00:31:01.123Z`: string order is time order, which the join SQL relies on."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    """Parse an ISO-8601 timestamp; a naive one is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (AttributeError, ValueError) as error:
        raise InvalidEvent(f"not an ISO-8601 timestamp: {text!r}") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def hour_partition(moment: datetime) -> str:
    """The `dt` partition value (`yyyy/MM/dd/HH`) of the hour folder holding `moment`."""
    return moment.astimezone(UTC).strftime("%Y/%m/%d/%H")


def now() -> datetime:
    """Current UTC time, truncated to milliseconds so it round-trips through `iso`."""
    moment = datetime.now(UTC)
    return moment - timedelta(microseconds=moment.microsecond % 1000)
