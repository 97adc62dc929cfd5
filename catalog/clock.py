"""The one clock: China's time (Asia/Shanghai), where the documents' dates and the users' days hold, whatever the
host's timezone (a UTC host would otherwise roll a policy's end date over at 08:00 Beijing time)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")


def now() -> datetime:
    """The current time in China (timezone-aware)."""
    return datetime.now(TZ)


def today() -> date:
    """Today's date in China."""
    return now().date()


def local_naive() -> datetime:
    """China's wall-clock time to the second, without tzinfo: for the catalog's naive DateTime columns."""
    return now().replace(tzinfo=None, microsecond=0)
