"""ISO-8601 UTC timestamps ending in ``Z``, as every API response and log line writes them."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(moment: datetime, *, milliseconds: bool = False) -> str:
    """``moment`` in UTC; to the millisecond where a format asks for it (the hub, log lines)."""
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds" if milliseconds else "auto")
    return text.replace("+00:00", "Z")


def iso_utc_or_none(moment: datetime | None, *, milliseconds: bool = False) -> str | None:
    return iso_utc(moment, milliseconds=milliseconds) if moment is not None else None


def utc_now_iso() -> str:
    return iso_utc(datetime.now(UTC), milliseconds=True)
