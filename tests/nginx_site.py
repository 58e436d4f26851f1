"""The sample nginx site (deploy/nginx-guestbook.conf) run for a test: its ports swapped
for free ones, a self-signed certificate, its log and cache in a temporary directory, in
front of the given upstream ports. tests/test_deploy.py puts it before two instances;
the browser tests before one, to watch a page nginx kept go live.

    with sample_site(tmp_path, [server.port]) as site:
        httpx.get(site["https"] + "/", verify=False)  # site["http"] redirects to it
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from servers import free_port, wait_until
from support import ROOT, _unavailable

DEPLOY = ROOT / "deploy"
LETSENCRYPT = "/etc/letsencrypt/live/guestbook.example.org/"


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"expected {old!r} once in the sample file"
    return text.replace(old, new)


@contextlib.contextmanager
def sample_site(tmp_path: Path, upstreams: list[int]) -> Iterator[dict[str, Any]]:
    """The running site: its "https" and "http" base URLs, its "access_log" path, its
    "site" config file and "reload" (nginx's SIGHUP, after an edit of the file).
    Skips (fails in CI) without nginx or openssl; raises if nginx does not answer."""
    binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if binary is None:
        _unavailable("nginx is not installed (apt-get install nginx-light)")
    openssl = shutil.which("openssl")
    if openssl is None:
        _unavailable("openssl is not installed")
    cert, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert],
        check=True,
        capture_output=True,
    )
    http_port, https_port = free_port(), free_port()
    site = (DEPLOY / "nginx-guestbook.conf").read_text()
    site = replace_once(
        site, "server 127.0.0.1:8000;", " ".join(f"server 127.0.0.1:{port};" for port in upstreams)
    )
    site = replace_once(site, "listen 80;", f"listen 127.0.0.1:{http_port};")
    site = replace_once(site, "listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl")
    assert site.count(LETSENCRYPT) == 2  # the certificate and its key
    site = site.replace(LETSENCRYPT, f"{tmp_path}/")
    site = replace_once(site, "/var/log/nginx/guestbook.access.log", str(tmp_path / "access.log"))
    site = replace_once(site, "/var/cache/nginx/guestbook", str(tmp_path / "cache"))
    (tmp_path / "site.conf").write_text(site)
    temp_paths = "\n".join(
        f"{kind}_temp_path {tmp_path / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "nginx.conf").write_text(
        f"user {pwd.getpwuid(os.geteuid()).pw_name};\n"  # ignored unless run as root
        f"worker_processes 1;\npid {tmp_path / 'nginx.pid'};\n"
        f"events {{ worker_connections 64; }}\n"
        f"http {{\n{temp_paths}\ninclude {tmp_path / 'site.conf'};\n}}\n"
    )
    error_log = tmp_path / "error.log"
    process = subprocess.Popen(
        [binary, "-p", tmp_path, "-e", error_log, "-c", tmp_path / "nginx.conf"]
        + ["-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    https = f"https://127.0.0.1:{https_port}"
    try:
        try:
            healthz = f"{https}/healthz"
            wait_until(lambda: httpx.get(healthz, verify=False).status_code == 200, process)  # noqa: S501
        except RuntimeError as err:
            raise RuntimeError(f"{err}:\n{error_log.read_text()}") from None
        yield {
            "https": https,
            "http": f"http://127.0.0.1:{http_port}",
            "access_log": tmp_path / "access.log",
            "site": tmp_path / "site.conf",  # edit it, then `reload()` (nginx -s reload)
            "reload": lambda: process.send_signal(signal.SIGHUP),
        }
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful stop
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
