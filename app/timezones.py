"""Time zone names and validation."""
from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones


@lru_cache(maxsize=1)
def all_timezones() -> tuple[str, ...]:
    names = {n for n in available_timezones() if "/" in n and not n.startswith(("Etc/", "SystemV/", "posix/",
                                                                                  "right/"))}
    names.add("UTC")
    return tuple(sorted(names))


@lru_cache(maxsize=1)
def _known() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


def is_valid_timezone(name: str | None) -> bool:
    return bool(name) and name in _known()


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)
