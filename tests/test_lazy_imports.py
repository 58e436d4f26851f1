"""What a worker does not load until a request needs it: modules that weigh megabytes
of every worker's memory and serve rare routes (bench/RESULTS.md, memory), the JSON
API's among them (`api.routes`). Checked in a fresh interpreter: the tests' own
process has loaded everything."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from support import API_ROUTES, ROOT

# Names in any script (ICU): signup, a rename, a non-ASCII name looked up.
# SMTP (aiosmtplib): the mail sender's SMTP backend. PostgreSQL's dialect, on SQLite.
# Babel: it extracts and compiles the catalogs; serving reads them with `gettext`.
LAZY = ("icu", "aiosmtplib", "sqlalchemy.dialects.postgresql", "babel")

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


# The JSON API's: its views, their pydantic types and quart-schema (attrs comes with it).
API = ["pydantic", "pydantic_core", "quart_schema", "attrs"]

SERVING = """
import asyncio, json, sys
from pathlib import Path
from guestbook import create_app, db
from guestbook.models import Base

async def main(instance, paths, names):
    app = create_app({"env": "testing", "instance_path": Path(instance),
                      "database_url": f"sqlite+aiosqlite:///{instance}/db.sqlite3",
                      "mail_backend": "null"})
    loaded = lambda: [name for name in names if name in sys.modules]
    seen = [["built", None, None, loaded()]]
    async with app.test_app():
        async with db.engine(app).begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        client = app.test_client()
        for path in paths:
            response = await client.get(path)
            seen.append([path, response.status_code, response.mimetype, loaded()])
            if path == "/openapi.json":
                seen.append(sorted(json.loads(await response.get_data())["paths"]))
    print(json.dumps(seen))

asyncio.run(main(sys.argv[1], sys.argv[2].split(), sys.argv[3:]))
"""


def served(instance: Path, *paths: str) -> list[list]:
    """What a fresh app answered to `paths`, asked in turn: [path, status, type, which
    of `API` were loaded after it], after [`built`, ...] as it started."""
    done = subprocess.run(
        [sys.executable, "-c", SERVING, str(instance), " ".join(paths), *API],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def test_pages_leave_the_api_unloaded_until_its_first_request(tmp_path) -> None:
    pages = ("/", "/auth/login", "/feed.atom", "/nowhere")
    assert served(tmp_path, *pages, "/api/v1/messages", "/") == [
        ["built", None, None, []],
        ["/", 200, "text/html", []],
        ["/auth/login", 200, "text/html", []],
        ["/feed.atom", 200, "application/atom+xml", []],
        ["/nowhere", 404, "text/html", []],
        ["/api/v1/messages", 200, "application/json", API],
        ["/", 200, "text/html", API],
    ]


def test_the_openapi_document_may_be_the_first_request(tmp_path) -> None:
    documented = sorted({re.sub(r"<(?:[^:>]*:)?([^>]+)>", r"{\1}", rule) for rule, _ in API_ROUTES})
    assert served(tmp_path, "/openapi.json", "/api/v1/messages") == [
        ["built", None, None, []],
        ["/openapi.json", 200, "application/json", API],
        documented,
        ["/api/v1/messages", 200, "application/json", API],
    ]


def test_the_docs_page_or_an_api_error_may_be_the_first_request(tmp_path) -> None:
    assert served(tmp_path, "/api/docs", "/api/v1/messages") == [
        ["built", None, None, []],
        ["/api/docs", 200, "text/html", API],
        ["/api/v1/messages", 200, "application/json", API],
    ]
    assert served(tmp_path / "b", "/api/v1/nowhere", "/api/v1/messages") == [
        ["built", None, None, []],
        ["/api/v1/nowhere", 404, "application/problem+json", API],
        ["/api/v1/messages", 200, "application/json", API],
    ]


# Pages in each language, with a message's time and a count on them.
TIMES_AND_COUNTS = """
import asyncio, json, sys
from pathlib import Path
from guestbook import create_app, db
from guestbook.models import Base, Message, User

async def main(instance):
    app = create_app({"env": "testing", "instance_path": Path(instance),
                      "database_url": f"sqlite+aiosqlite:///{instance}/db.sqlite3",
                      "mail_backend": "null"})
    seen = []
    async with app.test_app():
        async with db.engine(app).begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        async with db.sessionmaker(app)() as session:
            ada = User(username="ada", email="ada@example.com", username_key="ada",
                       email_key="ada@example.com", username_skeleton="ada", password_hash="-")
            session.add(Message(body="Hello", writer=ada))
            await session.commit()
        client = app.test_client()
        for language in ("en", "ko"):
            for path in ("/", "/users/ada"):
                response = await client.get(path, headers={"Accept-Language": language})
                page = await response.get_data(as_text=True)
                seen.append([language, path, response.status_code, " UTC</time>" in page,
                             "년 " in page])
    print(json.dumps([seen, "babel" in sys.modules]))

asyncio.run(main(sys.argv[1]))
"""


def test_pages_show_times_and_counts_without_babel(tmp_path) -> None:
    """Babel's CLDR tables weigh about 4 MB per language: pages take the few formats
    they show from `web.filters` (checked against Babel in tests/web/test_filters.py),
    and their text from the catalogs through `gettext`."""
    done = subprocess.run(
        [sys.executable, "-c", TIMES_AND_COUNTS, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    seen, babel = json.loads(done.stdout)
    assert seen == [
        [language, path, 200, True, language == "ko"]
        for language in ("en", "ko")
        for path in ("/", "/users/ada")
    ]
    assert babel is False
