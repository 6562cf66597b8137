"""Time zone names, validation and the choices of the time-zone picker.

The picker offers the zones of the IANA ``zone.tab`` (every country's zones, under their current names: no
legacy duplicates such as ``Africa/Asmera`` or ``US/Eastern``), read from the ``tzdata`` package or the system's
zoneinfo directory, plus ``UTC``. Any zone the runtime knows is still accepted (``is_valid_timezone``); a legacy
name is shown as the listed zone with the same rules (``canonical``).
"""
from __future__ import annotations

import hashlib
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, available_timezones

REGIONS = {"Africa": "Africa", "America": "Americas", "Antarctica": "Antarctica", "Arctic": "Arctic",
           "Asia": "Asia", "Atlantic": "Atlantic", "Australia": "Australia", "Europe": "Europe",
           "Indian": "Indian Ocean", "Pacific": "Pacific", "UTC": "UTC"}


@lru_cache(maxsize=1)
def _data_dirs() -> tuple[Path, ...]:
    dirs: list[Path] = []
    try:
        import tzdata  # the tzdata package ships zone.tab and iso3166.tab
        dirs.append(Path(tzdata.__file__).parent / "zoneinfo")
    except ImportError:
        pass
    dirs += [Path(p) for p in zoneinfo.TZPATH]
    return tuple(d for d in dirs if (d / "zone.tab").is_file())


def _read_tab(filename: str) -> list[list[str]]:
    for directory in _data_dirs():
        path = directory / filename
        if path.is_file():
            return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()
                    if line and not line.startswith("#")]
    return []


@lru_cache(maxsize=1)
def _zone_countries() -> dict[str, str]:
    """Zone name -> country name, from zone.tab and iso3166.tab."""
    names = {row[0]: row[1] for row in _read_tab("iso3166.tab") if len(row) >= 2}
    known = available_timezones()
    return {row[2]: names.get(row[0], row[0]) for row in _read_tab("zone.tab")
            if len(row) >= 3 and row[2] in known}


@lru_cache(maxsize=1)
def all_timezones() -> tuple[str, ...]:
    """The zones a picker offers: canonical names only, sorted."""
    names = set(_zone_countries())
    if not names:  # no zone.tab on this machine: every region/city name the runtime knows
        names = {n for n in available_timezones() if "/" in n and n.split("/")[0] in REGIONS}
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


def _rules(name: str) -> bytes | None:
    for directory in [*_data_dirs(), *(Path(p) for p in zoneinfo.TZPATH)]:
        path = directory.joinpath(*name.split("/"))
        if path.is_file():
            return hashlib.sha1(path.read_bytes()).digest()
    return None


@lru_cache(maxsize=1)
def _by_rules() -> dict[bytes, str]:
    out: dict[bytes, str] = {}
    for name in all_timezones():
        digest = _rules(name)
        if digest is not None:
            out.setdefault(digest, name)
    return out


@lru_cache(maxsize=256)
def canonical(name: str) -> str:
    """The listed zone for ``name``: itself when listed, else the listed zone with identical rules (a legacy
    link such as ``Asia/Calcutta`` -> ``Asia/Kolkata``), else ``name`` unchanged."""
    if name in all_timezones() or not is_valid_timezone(name):
        return name
    if name in ("Etc/UTC", "Etc/GMT", "GMT", "UCT", "Etc/UCT", "Zulu", "Etc/Zulu", "Universal", "Etc/Universal"):
        return "UTC"
    digest = _rules(name)
    return _by_rules().get(digest, name) if digest else name


# --- the picker's choices -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ZoneChoice:
    id: str
    city: str            # "Los Angeles"
    place: str           # "Los Angeles, United States"
    region: str          # "Americas"
    offset: str          # "UTC−08:00" (now)
    abbr: str            # "PST" (now; "" where the zone has no letter abbreviation)
    keywords: str        # lower-case search words besides the label: the id, both seasons' abbreviations

    def label(self, time: str = "") -> str:
        parts = [self.place, f"{self.offset} {self.abbr}" if self.abbr and self.abbr != "UTC" else self.offset]
        if time:
            parts.append(time)
        return " · ".join(parts)


def _offset_text(delta: timedelta | None) -> str:
    minutes = int((delta or timedelta(0)).total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    hours, mins = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{mins:02d}"


def _abbr(tz: ZoneInfo, moment: datetime) -> str:
    name = moment.astimezone(tz).tzname() or ""
    return name if name.isalpha() else ""


@lru_cache(maxsize=4)
def _choices_at(hour: datetime) -> tuple[ZoneChoice, ...]:
    countries = _zone_countries()
    seasons = (datetime(hour.year, 1, 15, tzinfo=UTC), datetime(hour.year, 7, 15, tzinfo=UTC))
    out = []
    for name in all_timezones():
        tz = zone(name)
        parts = name.split("/")
        city = parts[-1].replace("_", " ")
        country = countries.get(name, "")
        place = city if not country or country == city else f"{city}, {country}"
        if name == "UTC":
            place = "UTC (Coordinated Universal Time)"
        abbrs = {a for a in (_abbr(tz, s) for s in seasons) if a}
        now_abbr = _abbr(tz, hour)
        keywords = " ".join([name.lower().replace("_", " "), *sorted(a.lower() for a in abbrs)])
        out.append(ZoneChoice(id=name, city=city, place=place, region=REGIONS.get(parts[0], parts[0]),
                              offset=_offset_text(hour.astimezone(tz).utcoffset()), abbr=now_abbr,
                              keywords=keywords))
    return tuple(out)


def zone_choices(now: datetime | None = None) -> tuple[ZoneChoice, ...]:
    """Every listed zone with its name, current offset and abbreviation (recomputed each hour: offsets change
    on the hour at the latest)."""
    now = now or datetime.now(UTC)
    return _choices_at(now.astimezone(UTC).replace(minute=0, second=0, microsecond=0))


def zone_groups(now: datetime | None = None, only: str | None = None,
                include: str | None = None) -> list[tuple[str, list[ZoneChoice]]]:
    """The choices grouped by region (in REGIONS order), each sorted by city; ``only``: just the region of that
    zone; ``include``: a valid zone that is not listed (``Etc/GMT+5``) is added in a group "Other"."""
    groups: dict[str, list[ZoneChoice]] = {}
    choices = zone_choices(now)
    wanted = None
    if only:
        wanted = next((c.region for c in choices if c.id == canonical(only)), None)
    for choice in choices:
        if only is None or choice.region == wanted:
            groups.setdefault(choice.region, []).append(choice)
    order = list(dict.fromkeys(REGIONS.values()))
    out = [(region, sorted(groups[region], key=lambda c: c.city))
           for region in sorted(groups, key=lambda r: order.index(r) if r in order else len(order))]
    if include and is_valid_timezone(include) and include not in all_timezones():
        moment = now or datetime.now(UTC)
        out.append(("Other", [ZoneChoice(id=include, city=include, place=include.replace("_", " "), region="Other",
                                         offset=_offset_text(moment.astimezone(zone(include)).utcoffset()),
                                         abbr="", keywords=include.lower())]))
    return out
