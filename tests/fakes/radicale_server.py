"""A real Radicale CalDAV server on loopback for tests (htpasswd plain auth, storage in a temp folder).

``RadicaleServer(folder).start()`` runs ``python -m radicale`` on a free port; ``make_calendar`` creates a
calendar collection with MKCOL, ``put_event`` / ``events`` / ``get`` talk to it directly as a second client
would (the host adding an event in their calendar app).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

MKCOL = ('<?xml version="1.0" encoding="utf-8"?><d:mkcol xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
         '<d:set><d:prop><d:resourcetype><d:collection/><c:calendar/></d:resourcetype>'
         '<d:displayname>{name}</d:displayname></d:prop></d:set></d:mkcol>')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RadicaleServer:
    def __init__(self, folder: Path, users: dict[str, str] | None = None) -> None:
        self.folder = Path(folder)
        self.users = users or {"alice": "app-pass-1234"}
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.process: subprocess.Popen | None = None

    def start(self) -> RadicaleServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        htpasswd = self.folder / "users"
        htpasswd.write_text("".join(f"{u}:{p}\n" for u, p in self.users.items()))
        self.log = open(self.folder / "radicale.log", "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--server-hosts", f"127.0.0.1:{self.port}",
             "--storage-filesystem-folder", str(self.folder / "collections"),
             "--auth-type", "htpasswd", "--auth-htpasswd-filename", str(htpasswd),
             "--auth-htpasswd-encryption", "plain", "--auth-delay", "0", "--rights-type", "owner_only",
             "--logging-level", "warning"],
            stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("Radicale exited: " + (self.folder / "radicale.log").read_text()[-2000:])
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("Radicale did not start within 20 seconds")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if getattr(self, "log", None):
            self.log.close()

    # -- acting as the host's own calendar app -------------------------------------------------------------
    def _auth(self, user: str | None) -> tuple[str, str]:
        user = user or next(iter(self.users))
        return user, self.users[user]

    def make_calendar(self, name: str, slug: str | None = None, user: str | None = None) -> str:
        auth = self._auth(user)
        url = f"{self.url}{auth[0]}/{slug or name.lower().replace(' ', '-')}/"
        response = requests.request("MKCOL", url, data=MKCOL.format(name=name).encode(), auth=auth, timeout=10)
        assert response.status_code == 201, response.text
        return url

    def put_event(self, calendar_url: str, uid: str, ics: str, user: str | None = None) -> None:
        response = requests.put(f"{calendar_url}{uid}.ics", data=ics.encode(), auth=self._auth(user), timeout=10,
                                headers={"Content-Type": "text/calendar; charset=utf-8"})
        assert response.status_code in (201, 204), response.text

    def get(self, url: str, user: str | None = None) -> requests.Response:
        return requests.get(url, auth=self._auth(user), timeout=10)

    def events(self, calendar_url: str, user: str | None = None) -> dict[str, str]:
        """href → iCalendar text of every event in the calendar."""
        body = ('<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
                '<d:prop><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR"/></c:filter>'
                '</c:calendar-query>')
        response = requests.request("REPORT", calendar_url, data=body.encode(), auth=self._auth(user), timeout=10,
                                    headers={"Depth": "1", "Content-Type": "application/xml"})
        assert response.status_code == 207, response.text
        import xml.etree.ElementTree as ET
        root = ET.fromstring(response.content)
        ns = {"d": "DAV:", "c": "urn:ietf:params:xml:ns:caldav"}
        return {r.findtext("d:href", "", ns): r.findtext(".//c:calendar-data", "", ns)
                for r in root.findall("d:response", ns)}


def vevent(uid: str, start: str, end: str, *, summary: str = "Busy", extra: str = "", all_day: bool = False) -> str:
    """A one-event VCALENDAR; ``start``/``end`` as iCalendar values (``20300107T100000Z`` or ``20300107``)."""
    kind = ";VALUE=DATE" if all_day else ""
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Tests//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART{kind}:{start}\r\nDTEND{kind}:{end}\r\n"
            f"SUMMARY:{summary}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n")
