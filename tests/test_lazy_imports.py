"""What a worker does not load until a request needs it: modules that weigh megabytes
of every worker's memory and serve rare routes (bench/RESULTS.md, memory). Checked in
a fresh interpreter: the tests' own process has loaded everything."""

from __future__ import annotations

import subprocess
import sys

from support import ROOT

# Names in any script (ICU): signup, a rename, a non-ASCII name looked up.
# SMTP (aiosmtplib): the mail sender's SMTP backend. PostgreSQL's dialect, on SQLite.
LAZY = ("icu", "aiosmtplib", "sqlalchemy.dialects.postgresql")

SCRIPT = """
import sys
from pathlib import Path
from guestbook import create_app
create_app({"env": "testing", "database_url": "sqlite+aiosqlite:///unused.sqlite3",
            "instance_path": Path(sys.argv[1]), "mail_backend": "null"})
print(" ".join(name for name in sys.argv[2:] if name in sys.modules))
"""


def test_the_app_starts_without_the_modules_rare_routes_need(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), *LAZY],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == []
