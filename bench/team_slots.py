"""Run LinkTime's team slot computation on a shared team case (shared/bench/team-slots/cases/<name>.json).

    python bench/team_slots.py --case ../shared/bench/team-slots/cases/roundrobin_50.json --print
    python bench/team_slots.py --case ../shared/bench/team-slots/cases/roundrobin_50.json --print-members
    python bench/team_slots.py --case ../shared/bench/team-slots/cases/roundrobin_50.json --runs 21 --p95

``--print`` writes the team's sorted UTC slot starts as JSON (the format of expected/<name>.json);
``--print-members`` (round-robin cases) writes ``{start: [member ids]}`` (the format of
expected/<name>.members.json).  ``--runs N`` times the team computation (``collective_slots`` or
``round_robin_slots``, every member's engine run included) on the already-parsed input N times and prints the
median in milliseconds (``--p95`` adds the 95th percentile); wall time, or this process's CPU time with
``--clock cpu``, steadier on a busy machine.  The input format and the rule: shared/bench/team-slots/README.md.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time as clock
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.services.scheduling.availability import Schedule, TimeRange
from app.services.scheduling.team_slots import TeamMember, collective_slots, round_robin_slots
from bench.slots_compare import event_fields, format_instant, parse_instant, parse_range  # the single-host case format

MODES = {"collective": collective_slots, "roundRobin": round_robin_slots}


def load_member(raw: dict) -> TeamMember:
    """One member of a case file (weekdays numbered 0=Sunday..6=Saturday there, 0=Monday..6=Sunday here)."""
    weekly: dict[int, list[TimeRange]] = {}
    for entry in raw["weekly"]:
        for case_day in entry["days"]:
            weekly.setdefault((case_day + 6) % 7, []).append(parse_range(entry))
    overrides: dict[date, list[TimeRange]] = {}
    for entry in raw.get("overrides", []):
        overrides.setdefault(date.fromisoformat(entry["date"]), []).append(parse_range(entry))
    return TeamMember(
        id=raw["id"],
        schedule=Schedule(timezone=raw["timeZone"], weekly=weekly, overrides=overrides),
        busy=[(parse_instant(start), parse_instant(end)) for start, end in raw["busy"]],
        fixed=bool(raw.get("fixed", False)),
    )


def load_case(path: Path) -> tuple[str, dict]:
    """The case's mode ("collective" or "roundRobin") and the keyword arguments of its team function."""
    raw = json.loads(Path(path).read_text())
    if raw["mode"] not in MODES:
        raise ValueError(f"unknown mode {raw['mode']!r} in {path}")
    return raw["mode"], {
        "members": [load_member(member) for member in raw["members"]],
        **event_fields(raw),
    }


def team_starts(mode: str, inputs: dict) -> list[str]:
    """The team's sorted slot starts as "YYYY-MM-DDTHH:MM:SSZ" strings."""
    result = MODES[mode](**inputs)
    starts = result if mode == "collective" else result.starts
    return [format_instant(start) for start in starts]


def team_members(inputs: dict) -> dict[str, list[str]]:
    """Round-robin: each start (sorted) with the sorted ids of the members free at it."""
    result = round_robin_slots(**inputs)
    return {format_instant(start): list(result.free_members[start]) for start in result.starts}


CLOCKS = {"wall": clock.perf_counter, "cpu": clock.process_time}


def timings_ms(mode: str, inputs: dict, runs: int, timer=clock.perf_counter) -> list[float]:
    """Milliseconds of each of ``runs`` team computations on parsed inputs."""
    function = MODES[mode]
    timings = []
    for _ in range(runs):
        started = timer()
        function(**inputs)
        timings.append((timer() - started) * 1000)
    return timings


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in (0, 1])."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * fraction) - 1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, required=True, help="cases/<name>.json file")
    parser.add_argument("--print", action="store_true", help="print the team's slot starts as JSON")
    parser.add_argument("--print-members", action="store_true",
                        help="round-robin: print {start: [free member ids]} as JSON")
    parser.add_argument("--runs", type=int, default=0, help="time N runs and print the median ms")
    parser.add_argument("--p95", action="store_true", help="with --runs: also print the 95th percentile ms")
    parser.add_argument("--clock", choices=CLOCKS, default="wall",
                        help="what --runs measures: wall time (default) or this process's CPU time")
    args = parser.parse_args(argv)
    if not args.print and not args.print_members and args.runs <= 0:
        parser.error("nothing to do: pass --print, --print-members and/or --runs N")

    mode, inputs = load_case(args.case)
    if args.print_members and mode != "roundRobin":
        parser.error("--print-members needs a roundRobin case")
    if args.print:
        print(json.dumps(team_starts(mode, inputs), separators=(",", ":")))
    if args.print_members:
        print(json.dumps(team_members(inputs), separators=(",", ":")))
    if args.runs > 0:
        timings = timings_ms(mode, inputs, args.runs, CLOCKS[args.clock])
        line = f"{statistics.median(timings):.3f}"
        if args.p95:
            line += f" p95 {percentile(timings, 0.95):.3f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
