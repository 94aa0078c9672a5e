"""Timezone-aware UTC time: the current instant, and naive datetimes read as UTC.

Every timestamp the project stores or compares is timezone-aware UTC; these two helpers are the
one place that says how to get one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload

__all__ = ["aware", "utcnow"]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC.

    Returns:
        ``datetime.now(UTC)``.
    """
    return datetime.now(UTC)


@overload
def aware(d: datetime) -> datetime: ...


@overload
def aware(d: None) -> None: ...


def aware(d: datetime | None) -> datetime | None:
    """``d`` as a timezone-aware datetime, so naive and aware values compare.

    Args:
        d: A datetime, or None. A naive datetime is taken as UTC; an aware one is returned
            unchanged (not converted to UTC).

    Returns:
        The aware datetime, or None when ``d`` is None.
    """
    if d is None:
        return None
    return d if d.tzinfo is not None else d.replace(tzinfo=UTC)
