"""Time zones for schedules: which zone a cron is read in, and wall-clock <-> instant.

Timetables compute in UTC and read cron expressions in their own zone. The rules follow
Airflow's (pendulum-based) ones, done with :mod:`zoneinfo`:

- a wall-clock time that happens twice (the hour repeated when DST ends) means the *second*
  one, so a run never fires twice;
- a wall-clock time that does not exist (the hour skipped when DST starts) is moved forward by
  the gap, so ``02:30`` on the spring-forward day in Berlin is ``03:30`` CEST.

>>> localize(datetime(2024, 3, 31, 2, 30), ZoneInfo("Europe/Berlin")).isoformat()
'2024-03-31T01:30:00+00:00'
>>> localize(datetime(2024, 10, 27, 2, 30), ZoneInfo("Europe/Berlin")).isoformat()
'2024-10-27T01:30:00+00:00'
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from tradewind.exceptions import DagDefinitionError

#: What a timezone looks like in serialized form: an IANA name, "UTC", or a fixed offset in
#: seconds east of UTC (Airflow's encoding).
EncodedZone = str | int


def default_zone() -> tzinfo:
    """The zone of ``core.default_timezone`` (``"utc"``, an IANA name, or ``"system"``).

    Read on every call, so a changed setting takes effect without a restart.
    """
    from tradewind import config

    name = str(config.get("core", "default_timezone") or "utc")
    if name.strip().lower() == "system":
        return _system_zone()
    return resolve_zone(name)


def _system_zone() -> tzinfo:
    key = os.environ.get("TZ", "").lstrip(":")
    if not key:
        localtime = Path("/etc/localtime")
        if localtime.is_symlink():
            key = str(localtime.resolve()).partition("zoneinfo/")[2]
    try:
        return ZoneInfo(key) if key else UTC
    except Exception:
        return UTC


def resolve_zone(tz: str | int | tzinfo | None) -> tzinfo:
    """A ``tzinfo`` from a name, an offset in seconds, a ``tzinfo``, or ``None`` (the default).

    >>> resolve_zone("Europe/Paris")
    zoneinfo.ZoneInfo(key='Europe/Paris')
    >>> resolve_zone(3600)
    datetime.timezone(datetime.timedelta(seconds=3600))
    """
    if tz is None:
        return default_zone()
    if isinstance(tz, bool):
        raise DagDefinitionError(f"unknown time zone {tz!r}")
    if isinstance(tz, int):
        return UTC if tz == 0 else timezone(timedelta(seconds=tz))
    if isinstance(tz, str):
        if tz.strip().upper() == "UTC":
            return UTC
        try:
            return ZoneInfo(tz)
        except Exception:
            raise DagDefinitionError(f"unknown time zone {tz!r}") from None
    if isinstance(tz, tzinfo):
        return tz
    raise DagDefinitionError(f"a time zone must be a name or a tzinfo, got {type(tz).__name__}")


def encode_zone(tz: tzinfo) -> EncodedZone:
    """The serialized form of ``tz``: its IANA name, ``"UTC"``, or a fixed offset in seconds.

    >>> encode_zone(ZoneInfo("Asia/Tokyo")), encode_zone(UTC)
    ('Asia/Tokyo', 'UTC')
    >>> encode_zone(timezone(timedelta(hours=2)))
    7200
    """
    if isinstance(tz, ZoneInfo):
        return "UTC" if tz.key.upper() in ("UTC", "ETC/UTC") else tz.key
    key = getattr(tz, "key", None) or getattr(tz, "zone", None)  # zoneinfo-likes, pytz
    if isinstance(key, str):
        return "UTC" if key.upper() in ("UTC", "ETC/UTC") else key
    offset = tz.utcoffset(None)
    if offset is None:
        raise DagDefinitionError(f"time zone {tz!r} cannot be serialized: use an IANA zone name")
    seconds = int(offset.total_seconds())
    return "UTC" if seconds == 0 else seconds


def to_utc(at: datetime) -> datetime:
    """``at`` in UTC (a naive ``at`` is read as UTC), with ``fold`` cleared."""
    if at.tzinfo is None:
        return at.replace(tzinfo=UTC)
    return at.astimezone(UTC).replace(fold=0)


def wall_clock(at: datetime, tz: tzinfo) -> datetime:
    """The naive wall-clock reading of the instant ``at`` in ``tz``."""
    return to_utc(at).astimezone(tz).replace(tzinfo=None, fold=0)


def localize(naive: datetime, tz: tzinfo) -> datetime:
    """The UTC instant of the wall-clock time ``naive`` in ``tz`` (see the module rules)."""
    before = naive.replace(tzinfo=tz, fold=0).utcoffset()
    after = naive.replace(tzinfo=tz, fold=1).utcoffset()
    if before is not None and after is not None and after > before:
        naive = naive + (after - before)  # in the skipped hour: move forward by the gap
    return naive.replace(tzinfo=tz, fold=1).astimezone(UTC).replace(fold=0)
