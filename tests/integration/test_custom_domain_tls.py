"""A real Caddy (Debian's package) in front of LinkTime, with the README's Caddyfile and Caddy's internal CA:
a verified custom domain gets a certificate on demand and its booking page over HTTPS; an unverified one is
refused at the handshake, because LinkTime's ask endpoint says no.

Caddy runs on free loopback ports with its storage in the test's folder; the client connects to it on loopback
with the domain as SNI (no DNS involved) and trusts only the root certificate of Caddy's internal CA. Without a
``caddy`` binary the test is skipped, in CI (CI=true) it fails: ``make test`` installs it
(scripts/ensure-debian-package.sh).
"""
from __future__ import annotations

import re
import shutil
import socket
import ssl
from pathlib import Path

import pytest

from app.db import db
from app.services import custom_domains
from tests.conftest import IN_CI, ROOT, free_port
from tests.fakes.dns import DnsServer
from tests.integration.helpers import Processes, clean_env, wait_until
from tests.live import serve_live

pytestmark = pytest.mark.integration

DOMAIN = "meetings.acme-corp.com"
UNVERIFIED = "pending.acme-corp.com"


def caddy_binary() -> str:
    path = shutil.which("caddy")
    if path is None:
        message = "caddy is not installed (make test installs it: scripts/ensure-debian-package.sh)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def readme_caddyfile() -> str:
    readme = (ROOT / "README.md").read_text()
    return re.search(r"```caddyfile\n(.*?)```", readme, re.S).group(1)


def caddyfile_for_test(upstream: str, http_port: int, https_port: int, storage: Path) -> str:
    """The README's Caddyfile with the app's test address, free ports, the test's storage folder and Caddy's
    internal CA (``local_certs``) in place of Let's Encrypt."""
    text = readme_caddyfile().replace("127.0.0.1:8080", upstream)
    assert text.startswith("{\n")
    extra = (f"\tadmin off\n\tlocal_certs\n\tskip_install_trust\n\thttp_port {http_port}\n"
             f"\thttps_port {https_port}\n\tstorage file_system {{\n\t\troot {storage}\n\t}}\n")
    return "{\n" + extra + text[2:]


def https_get(port: int, server_name: str, path: str, cafile: Path) -> tuple[str, dict, str]:
    """GET ``path`` from Caddy on loopback with ``server_name`` as SNI and Host, trusting only ``cafile``."""
    context = ssl.create_default_context(cafile=str(cafile))
    with socket.create_connection(("127.0.0.1", port), timeout=20) as raw:
        with context.wrap_socket(raw, server_hostname=server_name) as tls:
            names = [value for kind, value in tls.getpeercert().get("subjectAltName", ()) if kind == "DNS"]
            assert names == [server_name]
            tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    return lines[0], headers, body.decode("utf-8", "replace")


def test_caddy_serves_a_verified_domain_over_https_and_refuses_an_unverified_one(app_factory, make_user,
                                                                                 tmp_path):
    caddy = caddy_binary()
    with DnsServer() as dns_server:
        app = app_factory(DNS_RESOLVER=dns_server.address, BASE_URL="https://cal.example.com")
        owner = make_user("olga", name="Olga Owner", plan="ORGANIZATION")
        other = make_user("rita", plan="ORGANIZATION")
        with app.app_context(), db.connection_context():
            domain = custom_domains.add_domain(owner, DOMAIN)
            custom_domains.add_domain(other, UNVERIFIED)
            dns_server.set_txt("_linktime-verify." + DOMAIN, "lt-verify=" + domain.token)
            assert custom_domains.verify(owner)[1].ok
    processes = Processes(tmp_path)
    with serve_live(app) as live:
        http_port, https_port = free_port(), free_port()
        storage = tmp_path / "caddy-data"
        config = tmp_path / "Caddyfile"
        config.write_text(caddyfile_for_test(live.url.removeprefix("http://"), http_port, https_port, storage))
        env = clean_env(HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "xdg-data"),
                        XDG_CONFIG_HOME=str(tmp_path / "xdg-config"))
        proc = processes.start("caddy", [caddy, "run", "--config", str(config), "--adapter", "caddyfile"], env)
        try:
            def listening() -> bool:
                assert proc.poll() is None, processes.log_of(proc)
                with socket.create_connection(("127.0.0.1", https_port), timeout=1):
                    return True
            wait_until(listening, 30, "Caddy listens on its HTTPS port")
            root = storage / "pki" / "authorities" / "local" / "root.crt"
            wait_until(root.exists, 30, f"Caddy's internal CA is created ({root})")

            status, headers, body = https_get(https_port, DOMAIN, "/olga/30-min", root)
            assert status.split()[1] == "200", (status, body[:500], processes.log_of(proc)[-3000:])
            assert "30 Minute Meeting" in body and "Olga Owner" in body
            status, headers, _ = https_get(https_port, DOMAIN, "/dashboard", root)
            assert status.split()[1] == "302" and headers["location"] == "https://cal.example.com/dashboard"

            with pytest.raises(ssl.SSLError):        # no certificate: LinkTime's ask endpoint answered 404
                https_get(https_port, UNVERIFIED, "/rita", root)
            with pytest.raises(ssl.SSLError):
                https_get(https_port, "evil.example.net", "/olga", root)
            assert list(storage.glob(f"certificates/*/{DOMAIN}/{DOMAIN}.crt"))
            assert not list(storage.glob(f"certificates/*/{UNVERIFIED}")), "a certificate was issued anyway"
        except BaseException:
            print(processes.all_logs())
            raise
        finally:
            processes.stop_all()
