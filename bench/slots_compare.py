"""Run LinkTime's slot engine on a shared comparison case (shared/bench/slots/cases/case_N.json).

    python bench/slots_compare.py --case ../shared/bench/slots/cases/case_100.json --print
    python bench/slots_compare.py --case ../shared/bench/slots/cases/case_100.json --runs 21

``--print`` writes the sorted UTC slot starts as JSON (the format of expected_N.json); ``--runs N`` times
``compute_slots`` on the already-parsed input N times and prints the median in milliseconds (wall time;
``--clock cpu`` measures this process's CPU time instead, steadier on a busy machine). ``--limits`` adds booking
limits (issue 23: per week, month and year and booked minutes per day and week, the event type's and the host's,
high enough to hide nothing) counting every busy interval as a booking; building them is inside the timing.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time as clock
from datetime import UTC, date, datetime, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.services.scheduling.availability import Schedule, SlotRules, TimeRange, compute_slots
from app.services.scheduling.period_limits import Limit, PeriodLimits


def parse_instant(text: str) -> datetime:
    """Parse "YYYY-MM-DDTHH:MM:SSZ" (or any ISO 8601 instant with an offset) into an aware datetime."""
    return datetime.fromisoformat(text)


def format_instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_range(entry: dict) -> TimeRange:
    return TimeRange(time.fromisoformat(entry["start"]), time.fromisoformat(entry["end"]))


def load_case(path: Path) -> dict:
    """Turn a case file into the keyword arguments of ``compute_slots``.

    Case files number weekdays 0=Sunday..6=Saturday; the engine uses Python's 0=Monday..6=Sunday.
    """
    raw = json.loads(path.read_text())
    weekly: dict[int, list[TimeRange]] = {}
    for entry in raw["weekly"]:
        for case_day in entry["days"]:
            weekly.setdefault((case_day + 6) % 7, []).append(parse_range(entry))
    overrides: dict[date, list[TimeRange]] = {}
    for entry in raw.get("overrides", []):
        overrides.setdefault(date.fromisoformat(entry["date"]), []).append(parse_range(entry))
    return {
        "schedule": Schedule(timezone=raw["timeZone"], weekly=weekly, overrides=overrides),
        "busy": [(parse_instant(start), parse_instant(end)) for start, end in raw["busy"]],
        **event_fields(raw),
    }


def event_fields(raw: dict) -> dict:
    """The event's rules, window and "now" of a case (the team cases share these fields)."""
    return {
        "rules": SlotRules(
            length=raw["eventLength"],
            interval=raw.get("slotInterval"),
            before_buffer=raw.get("beforeBuffer", 0),
            after_buffer=raw.get("afterBuffer", 0),
            minimum_notice=raw.get("minimumNotice", 0),
            max_per_day=raw.get("maxPerDay"),
        ),
        "window_start": parse_instant(raw["windowStart"]),
        "window_end": parse_instant(raw["windowEnd"]),
        "now": parse_instant(raw["now"]),
    }


CLOCKS = {"wall": clock.perf_counter, "cpu": clock.process_time}


def limit_inputs(inputs: dict) -> tuple[list[Limit], dict]:
    """Limits that hide nothing, and every busy interval as a booking of the event type (local date, minutes)."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(inputs["schedule"].timezone)
    rows = [(start.astimezone(tz).date(), int((end - start).total_seconds() // 60)) for start, end in inputs["busy"]]
    big = 10 ** 9
    limits = [Limit(period, unit, big, scope) for period, unit in (("week", "bookings"), ("month", "bookings"),
                                                                  ("year", "bookings"), ("day", "minutes"),
                                                                  ("week", "minutes"))
              for scope in ("event_type", "host")]
    return limits, {"event_type": rows, "host": rows}


def median_ms(inputs: dict, runs: int, timer=clock.perf_counter, limits: tuple | None = None) -> float:
    """Median time in milliseconds of ``compute_slots`` on parsed inputs (with ``limits``: building them too)."""
    timings = []
    for _ in range(runs):
        started = timer()
        if limits is not None:
            compute_slots(**inputs, limits=PeriodLimits(*limits))
        else:
            compute_slots(**inputs)
        timings.append((timer() - started) * 1000)
    return statistics.median(timings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, required=True, help="case_N.json file")
    parser.add_argument("--print", action="store_true", help="print the slot starts as JSON")
    parser.add_argument("--runs", type=int, default=0, help="time N runs and print the median ms")
    parser.add_argument("--clock", choices=CLOCKS, default="wall",
                        help="what --runs measures: wall time (default) or this process's CPU time")
    parser.add_argument("--limits", action="store_true", help="apply booking limits that hide nothing (see above)")
    args = parser.parse_args(argv)
    if not args.print and args.runs <= 0:
        parser.error("nothing to do: pass --print and/or --runs N")

    inputs = load_case(args.case)
    if args.print:
        print(json.dumps([format_instant(slot) for slot in compute_slots(**inputs)], separators=(",", ":")))
    if args.runs > 0:
        limits = limit_inputs(inputs) if args.limits else None
        print(f"{median_ms(inputs, args.runs, CLOCKS[args.clock], limits):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
