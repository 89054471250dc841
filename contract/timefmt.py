"""The data lake's one timestamp format: ISO-8601 UTC with milliseconds and `Z` (`2026-11-23T00:31:01.123Z`).

Every producer writes it and the join compares it as text, so string order must be time order: exactly three
fraction digits, always UTC, always `Z`. One formatter (`iso_from_millis`, which `iso` and `iso_from_epoch` feed),
one pattern (`ISO_MS_Z`, also placed in the join SQL) and one strict check (`is_iso_ms_z`).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

ISO_MS_Z = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z$"
"""The format as a regular expression both engines and Python read the same way (the join's `regexp_like`)."""
ISO_MS_Z_PATTERN = re.compile(ISO_MS_Z)
HOUR_PARTITION_FORMAT = "%Y/%m/%d/%H"
"""Firehose's default UTC hour folders under a stream's prefix, the Glue tables' `dt` partition values."""
GLUE_HOUR_PARTITION_FORMAT = "yyyy/MM/dd/HH"
"""The same hour folders in the Java date format of Glue's partition projection (`projection.dt.format`)."""

_second_text: tuple[int, str] = (-1, "")


def iso_from_millis(millis: int) -> str:
    """The one formatter: epoch milliseconds as the contract's timestamp.

    The seconds' text is cached (the serving path stamps every decision, mostly within the same second); the cache
    is one tuple read and written whole, so a concurrent caller sees either the old or the new pair, never a mix.
    """
    global _second_text
    seconds, fraction = divmod(millis, 1000)
    cached = _second_text
    if cached[0] != seconds:
        cached = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
        _second_text = cached
    return f"{cached[1]}.{fraction:03d}Z"


def iso_from_epoch(seconds: float | None = None) -> str:
    """Epoch seconds (default: now) as the contract's timestamp, rounded to the nearest millisecond."""
    return iso_from_millis(round((time.time() if seconds is None else seconds) * 1000))


def iso(moment: datetime) -> str:
    """A datetime as the contract's timestamp, truncated to the millisecond (a naive one is taken as UTC)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    delta = aware - datetime(1970, 1, 1, tzinfo=UTC)
    return iso_from_millis(delta // timedelta(milliseconds=1))


def parse_iso(text: str) -> datetime:
    """Any ISO-8601 timestamp (execution input, registry rows) as an aware datetime; a naive one is taken as UTC.

    Raises ValueError naming the text. Lenient on purpose: records are checked with `is_iso_ms_z` instead.
    """
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (AttributeError, ValueError) as error:
        raise ValueError(f"not an ISO-8601 timestamp: {text!r}") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def is_iso_ms_z(value: object) -> bool:
    """A string in exactly the contract's format that names a real instant (not 2026-02-30 or hour 25)."""
    if not isinstance(value, str) or not ISO_MS_Z_PATTERN.fullmatch(value):
        return False
    try:
        datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        return False
    return True


def hour_partition(moment: datetime) -> str:
    """The `dt` partition value (`yyyy/MM/dd/HH`) of the hour folder holding `moment`."""
    return moment.astimezone(UTC).strftime(HOUR_PARTITION_FORMAT)


def hour_partition_of_epoch(seconds: float) -> str:
    """`hour_partition` of epoch seconds."""
    return time.strftime(HOUR_PARTITION_FORMAT, time.gmtime(seconds))


def now() -> datetime:
    """Current UTC time, truncated to milliseconds so it round-trips through `iso`."""
    moment = datetime.now(UTC)
    return moment - timedelta(microseconds=moment.microsecond % 1000)
