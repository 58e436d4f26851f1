"""Error pages in the site's style with the right status, and the health probes."""

import pytest
from quart import Quart
from sqlalchemy.exc import IntegrityError, OperationalError

from support import page_text


@pytest.fixture
def failing_routes(app: Quart) -> Quart:
    @app.get("/_test/boom")
    async def boom():  # noqa: ANN202
        raise RuntimeError("secret internals")

    @app.get("/_test/db-gone")
    async def db_gone():  # noqa: ANN202
        raise OperationalError("SELECT 1", {}, Exception("unable to open database file"))

    @app.get("/_test/db-bug")
    async def db_bug():  # noqa: ANN202
        raise IntegrityError("INSERT", {}, Exception("NOT NULL constraint failed"))

    return app


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "title"),
    [
        ("get", "/no/such/page", {}, 404, "Not found"),
        ("get", "/auth/logout", {}, 405, "Method not allowed"),
        ("post", "/auth/login", {"form": {"username": "x"}, "csrf": False}, 400, "Bad request"),
        ("post", "/auth/login", {"form": {"username": "x" * 70_000}}, 413, "Too large"),
        ("get", "/_test/boom", {}, 500, "Something broke"),
        ("get", "/_test/db-bug", {}, 500, "Something broke"),
        ("get", "/_test/db-gone", {}, 503, "Down for a moment"),
    ],
)
async def test_error_pages(
    failing_routes: Quart, method: str, path: str, kwargs: dict, status: int, title: str
) -> None:
    client = failing_routes.test_client()
    response = await getattr(client, method)(path, **kwargs)
    assert response.status_code == status
    assert response.mimetype == "text/html"
    html = await page_text(response)
    assert f"<title>{title} · Guestbook</title>" in html
    assert 'class="menu"' in html  # the site's layout, not a bare server page
    assert "Traceback" not in html and "secret internals" not in html


async def test_405_names_the_allowed_methods(client) -> None:  # noqa: ANN001
    response = await client.get("/auth/logout")
    assert "POST" in response.headers["Allow"]


async def test_503_asks_to_retry(failing_routes: Quart) -> None:
    response = await failing_routes.test_client().get("/_test/db-gone")
    assert response.headers["Retry-After"] == "5"


async def test_health_probes(client) -> None:  # noqa: ANN001
    assert (await client.get("/healthz")).status_code == 200
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert (await ready.get_json())["checks"]["database"] == "ok"
