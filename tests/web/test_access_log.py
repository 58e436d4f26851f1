"""The access log cannot be forged: what a client puts in the path or a header is one
line, with control characters escaped, and a reset link's token is never written."""

from __future__ import annotations

import logging

from hypercorn.logging import AccessLogAtoms

from guestbook.web.logs import AccessLogFilter

FORMAT = '%(h)s "%(r)s" %(s)s "%(f)s" "%(a)s"'


def logged(path: str, **headers: str) -> str:
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "query_string": b"",
        "headers": [(k.encode(), v.encode("latin-1")) for k, v in headers.items()],
        "client": ("192.0.2.1", 5000),
        "server": ("127.0.0.1", 5000),
    }
    atoms = AccessLogAtoms(scope, {"status": 200, "headers": []}, 0.01)
    record = logging.LogRecord("hypercorn.access", logging.INFO, "", 0, FORMAT, (atoms,), None)
    assert AccessLogFilter().filter(record)
    return record.getMessage()


def test_a_newline_in_the_path_does_not_start_a_forged_line() -> None:
    line = logged('/x\n192.0.2.9 "GET /admin HTTP/1.1" 200')
    assert "\n" not in line
    assert "\\n" in line


def test_nul_and_escape_sequences_are_written_escaped() -> None:
    line = logged("/a\x00b", **{"user-agent": "evil\x1b[2Jterminal", "referer": "/\r\nX"})
    assert not any(ord(ch) < 32 for ch in line)
    assert "\\x00" in line and "\\x1b" in line and "\\r\\n" in line


def test_a_reset_token_is_never_written() -> None:
    line = logged("/auth/reset/SECRET-TOKEN", referer="https://site/auth/reset/OTHER")
    assert "SECRET-TOKEN" not in line and "OTHER" not in line
    assert "/auth/reset/..." in line
