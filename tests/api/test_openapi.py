"""The API described and checked against its description: /openapi.json is a valid
OpenAPI 3.1 document naming every route of the API with its parameters, body and
errors; /api/docs renders it from this site's own files; and Schemathesis, reading
only that document, finds no 5xx, no answer the document does not allow, and leaves
no half-written row, against a real server signed in with a write token."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from openapi_spec_validator import validate
from quart import Quart
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import create_async_engine

from guestbook.models import ApiToken, Message, User, skeleton
from servers import LiveServer, migrate
from support import (
    API_ROUTES,
    Seed,
    all_rows,
    assert_rows_valid,
    own_database,
    production_env,
    serving,
)

OPENAPI_PATH = re.compile(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>")


async def document(app: Quart) -> dict[str, Any]:
    response = await app.test_client().get("/openapi.json")
    assert response.status_code == 200
    return json.loads(await response.get_data())


async def test_the_document_is_valid_openapi_3_1_and_names_every_route(app: Quart) -> None:
    found = await document(app)
    validate(found)  # raises on anything the OpenAPI 3.1 schema refuses
    assert found["openapi"].startswith("3.1")
    operations = {
        (path, method.upper()) for path, methods in found["paths"].items() for method in methods
    }
    assert operations == {(OPENAPI_PATH.sub(r"{\1}", rule), method) for rule, method in API_ROUTES}
    for path, methods in found["paths"].items():
        for method, operation in methods.items():
            where = f"{method} {path}"
            params = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
            assert params == set(re.findall(r"{(\w+)}", path)), where
            assert "401" in operation["responses"], where  # a token sent is always checked
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert list(response["content"]) == ["application/problem+json"], where
            if method in ("post", "patch"):
                assert {"415", "422"} <= set(operation["responses"]), where
                assert "requestBody" in operation, where
    assert found["paths"]["/api/v1/messages"]["get"]["parameters"][0]["name"] == "cursor"


async def test_the_docs_page_uses_only_this_sites_files(app: Quart) -> None:
    client = app.test_client()
    page = await client.get("/api/docs")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    html = await page.get_data(as_text=True)
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert sources and all(source.startswith("/static/") for source in sources), sources
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)  # no inline script
    for source in sources:
        assert (await client.get(source)).status_code == 200, source


CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_headers_conformance,response_schema_conformance"
)


def test_schemathesis_finds_nothing_wrong(tmp_path: Path) -> None:
    token = "gbt_" + "fuzz" * 10
    with own_database(tmp_path, "fuzz") as url:
        env = production_env(url, GUESTBOOK_POST_LIMIT="1000", GUESTBOOK_ALLOW_SQLITE="1")
        migrate(env)
        asyncio.run(_member_with_token(url, token))
        with LiveServer(tmp_path, env) as server:
            run = subprocess.run(
                [
                    str(Path(sys.executable).with_name("schemathesis")),
                    "run",
                    f"{server.url}/openapi.json",
                    "--checks", CHECKS,
                    "--max-examples", "15",
                    "--seed", "26",
                    "--header", f"Authorization: Bearer {token}",
                    "--request-timeout", "10",
                    "--no-color",
                ],
                capture_output=True,
                text=True,
                timeout=170,
            )  # fmt: skip
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
        assert "No issues found" in run.stdout or "passed" in run.stdout, run.stdout[-3000:]
        rows = asyncio.run(_rows(url))
    assert_rows_valid(rows)
    # It may have deleted all it wrote (its token may), but the live log keeps each write.
    written = [event for event in rows["live_events"] if event["kind"] == "created"]
    assert len(written) > 1, "the fuzzer wrote nothing: it was not signed in"


async def _member_with_token(url: str, token: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            user = await conn.execute(
                insert(User)
                .values(
                    username="fuzzer",
                    email="fuzzer@example.com",
                    username_key="fuzzer",
                    username_skeleton=skeleton("fuzzer"),
                    email_key="fuzzer@example.com",
                    password_hash=Seed._hash,
                )
                .returning(User.id)
            )
            user_id = user.scalar_one()
            await conn.execute(
                insert(ApiToken).values(
                    token_hash=hashlib.sha256(token.encode()).hexdigest(),
                    user_id=user_id,
                    name="fuzzer",
                    scope="write",
                )
            )
            await conn.execute(insert(Message).values(body="to be found", writer_id=user_id))
    finally:
        await engine.dispose()


async def _rows(url: str) -> dict:
    async with serving({"env": "testing", "database_url": url, "mail_backend": "null"}) as app:
        return await all_rows(app)
