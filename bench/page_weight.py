"""Booking page weight: bytes over the wire and largest contentful paint on a throttled phone, in Chromium.

    .venv/bin/python bench/page_weight.py [--runs 3] [--check] [--details] [--app-dir DIR] [--cpu-slowdown 1]

Seeds a host (open every day 08:00-20:00) in a fresh temporary instance folder (SQLite), starts
``python -m app.serve`` as ``make run`` does, and opens the public booking page ``/bench/30-min`` in Chromium
(``/usr/bin/chromium`` or ``LINKTIME_CHROMIUM``, driven by Playwright) as an invitee in New York (en-US, so the
page's script asks once for the step in the visitor's zone and 12-hour clock, as on a real first visit) with a
375 x 667 mobile viewport (DPR 2, touch) and the network throttled through the DevTools protocol
(``Network.emulateNetworkConditions``) to Lighthouse's "Slow 4G" profile: 150 ms latency per request,
1.6 Mbit/s down, 750 kbit/s up. Each run is a fresh browser context (empty cache):

- first visit: the bytes Chromium received for every request of the page (the sum of ``encodedDataLength`` of
  ``Network.loadingFinished``: headers and bodies as sent, compressed where they were), and the largest
  contentful paint (the last ``largest-contentful-paint`` entry of a ``PerformanceObserver``) after the network
  went idle;
- repeat visit: the same URL again in a new tab of the same context (its HTTP cache kept), the same byte count.

Prints the median of the runs against the targets of issue 14 (first visit <= 40 KB, LCP <= 1.5 s, repeat visit
<= 10 KB; 1 KB = 1024 bytes). ``--check`` exits 1 when one is missed. ``--details`` lists each request of the last
run. ``--app-dir`` serves another checkout of LinkTime with the same migrations (e.g. the commit before a change,
from ``git archive``) for before/after figures; the seed always uses this checkout's models.
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.booking_pages import free_port  # noqa: E402 (after the path of this checkout)

CHROMIUM = os.environ.get("LINKTIME_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Lighthouse's mobile "Slow 4G" (DevTools applies the latency to every request; throughputs in bytes per second)
NETWORK_NAME = "Slow 4G (Lighthouse): 150 ms latency, 1.6 Mbit/s down, 750 kbit/s up"
NETWORK = {"offline": False, "latency": 150, "downloadThroughput": 1.6e6 / 8, "uploadThroughput": 750e3 / 8}
VIEWPORT = {"width": 375, "height": 667}
VISITOR_ZONE = "America/New_York"   # an invitee in another zone than the host's, with an en-US 12-hour clock
KB = 1024
TARGETS = {"first": 40 * KB, "lcp": 1.5, "repeat": 10 * KB}
LCP_SCRIPT = """
window.__lcp = null;
new PerformanceObserver((list) => {
  const entries = list.getEntries();
  window.__lcp = entries[entries.length - 1].startTime;
}).observe({type: "largest-contentful-paint", buffered: true});
"""


def seed(env: dict) -> str:
    """A host whose 30-minute event type is open every day; returns the booking page's path."""
    os.environ.update(env)
    from app import create_app
    from app.db import db, upgrade
    from app.models import Schedule
    from app.services.account import accounts

    app = create_app()
    with app.app_context(), db.connection_context():
        upgrade()
        host = accounts.signup(accounts.SignupData(name="Bench Host", email="bench@example.com", username="bench",
                                                   password="seeded host secret", timezone="Europe/Berlin"),
                               default_plan="PRO")
        schedule = Schedule.get(Schedule.user == host)
        schedule.weekly = {str(d): [["08:00", "20:00"]] for d in range(7)}
        schedule.save()
    return f"/{host.username}/30-min"


@dataclass
class Visit:
    received: dict[str, int] = field(default_factory=dict)   # request id -> bytes received
    urls: dict[str, str] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)
    encoding: dict[str, str] = field(default_factory=dict)
    cached: set[str] = field(default_factory=set)
    wire_status: dict[str, int] = field(default_factory=dict)
    lcp: float | None = None

    @property
    def total(self) -> int:
        return sum(self.received.values())

    @property
    def over_network(self) -> int:
        return sum(1 for rid, size in self.received.items() if size > 0 and rid not in self.cached)


def visit(context, url: str, cpu_slowdown: float) -> Visit:
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    seen = Visit()

    def response(event):
        rid = event["requestId"]
        seen.urls[rid] = event["response"]["url"]
        seen.status[rid] = event["response"]["status"]
        headers = {k.lower(): v for k, v in event["response"].get("headers", {}).items()}
        seen.encoding[rid] = headers.get("content-encoding", "")
        if event["response"].get("fromDiskCache") or event["response"].get("fromPrefetchCache"):
            seen.cached.add(rid)

    cdp.on("Network.responseReceived", response)
    # the status on the wire (a revalidated copy is reported above with its cached 200, here as 304)
    cdp.on("Network.responseReceivedExtraInfo",
           lambda event: seen.wire_status.__setitem__(event["requestId"], event["statusCode"]))
    cdp.on("Network.requestServedFromCache", lambda event: seen.cached.add(event["requestId"]))
    cdp.on("Network.loadingFinished", lambda event: seen.received.__setitem__(event["requestId"],
                                                                              int(event["encodedDataLength"])))
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", NETWORK)
    if cpu_slowdown > 1:
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": cpu_slowdown})
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    seen.lcp = page.evaluate("window.__lcp")
    page.close()
    return seen


def run_once(browser, url: str, cpu_slowdown: float) -> tuple[Visit, Visit]:
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=2, is_mobile=True, has_touch=True,
                                  locale="en-US", timezone_id=VISITOR_ZONE)
    context.add_init_script(LCP_SCRIPT)
    try:
        first = visit(context, url, cpu_slowdown)
        repeat = visit(context, url, cpu_slowdown)
    finally:
        context.close()
    return first, repeat


def details(name: str, seen: Visit, base: str) -> None:
    print(f"\n{name}: {len(seen.received)} requests, {seen.over_network} over the network")
    for rid, size in sorted(seen.received.items(), key=lambda item: -item[1]):
        where = "cache" if rid in seen.cached or size == 0 else (seen.encoding.get(rid) or "identity")
        status = seen.wire_status.get(rid, seen.status.get(rid, "-"))
        print(f"  {size:>7,} B  {status}  {where:<8}  {seen.urls.get(rid, rid).replace(base, '')}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh browser contexts; the median is reported")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--details", action="store_true", help="list the requests of the last run")
    parser.add_argument("--app-dir", default=str(ROOT), help="the LinkTime checkout to serve (default: this one)")
    parser.add_argument("--cpu-slowdown", type=float, default=1, help="Chromium CPU throttling factor (1 = none)")
    args = parser.parse_args()
    if not os.path.exists(CHROMIUM):
        print(f"Chromium not found at {CHROMIUM} (set LINKTIME_CHROMIUM)", file=sys.stderr)
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="linktime-weight-"))
    port = free_port()
    env = {"INSTANCE_DIR": str(tmp), "PORT": str(port), "LINKTIME_ENV": "development", "LOG_LEVEL": "WARNING",
           "BASE_URL": f"http://127.0.0.1:{port}"}
    path = seed(env)
    server = subprocess.Popen([sys.executable, "-m", "app.serve"], cwd=args.app_dir, env={**os.environ, **env},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    from playwright.sync_api import sync_playwright

    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        requests.get(base + path, timeout=10).raise_for_status()    # warm: templates compiled, page cached
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                runs = [run_once(browser, base + path, args.cpu_slowdown) for _ in range(args.runs)]
                version = browser.version
            finally:
                browser.close()
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)

    if any(first.lcp is None for first, _ in runs):
        print("no largest-contentful-paint entry was recorded", file=sys.stderr)
        return 2
    first_bytes = statistics.median(first.total for first, _ in runs)
    repeat_bytes = statistics.median(repeat.total for _, repeat in runs)
    lcp = statistics.median(first.lcp for first, _ in runs) / 1000
    last_first, last_repeat = runs[-1]
    rows = [
        ("first visit, transferred", f"{first_bytes / KB:.1f} KB ({last_first.over_network} requests)",
         f"<= {TARGETS['first'] // KB} KB", first_bytes <= TARGETS["first"]),
        ("largest contentful paint", f"{lcp:.2f} s (runs: {', '.join(f'{f.lcp / 1000:.2f}' for f, _ in runs)})",
         f"<= {TARGETS['lcp']} s", lcp <= TARGETS["lcp"]),
        ("repeat visit, transferred", f"{repeat_bytes / KB:.1f} KB ({last_repeat.over_network} over the network, "
         f"{len(last_repeat.received) - last_repeat.over_network} from cache)",
         f"<= {TARGETS['repeat'] // KB} KB", repeat_bytes <= TARGETS["repeat"]),
    ]
    print(f"Booking page {path}, Chromium {version}, {VIEWPORT['width']}x{VIEWPORT['height']} mobile viewport, "
          f"visitor {VISITOR_ZONE} en-US, {NETWORK_NAME}, CPU slowdown x{args.cpu_slowdown:g}, "
          f"median of {args.runs} run(s), app: {args.app_dir}")
    print("| measure | result | target | met |")
    print("|---|---|---|---|")
    for name, value, target, met in rows:
        print(f"| {name} | {value} | {target} | {'yes' if met else 'NO'} |")
    if args.details:
        details("first visit (last run)", last_first, base)
        details("repeat visit (last run)", last_repeat, base)
    missed = [name for name, _, _, met in rows if not met]
    if args.check and missed:
        print("missed: " + ", ".join(missed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
