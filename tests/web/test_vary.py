"""Every HTML page says what it depends on, so a shared cache keys it right: forms,
members' pages and error pages carry `Vary: Cookie, Accept-Language`, once."""

from __future__ import annotations

from quart import Quart, Response

from guestbook.web.headers import add_security_headers
from support import member


async def test_every_html_page_varies_on_cookie_and_language(app: Quart) -> None:
    signed_in = await member(app, "writer")
    reader = app.test_client()
    pages = [
        (reader, "/"),
        (reader, "/auth/login"),
        (reader, "/auth/signup"),
        (reader, "/users/writer"),
        (reader, "/no-such-page"),  # an error page
        (reader, "/users/nobody"),
        (signed_in, "/"),
        (signed_in, "/account/sessions"),
        (signed_in, "/account/password"),
        (signed_in, "/moderation"),  # 403, an error page for a member
    ]
    for client, path in pages:
        response = await client.get(path)
        assert response.mimetype == "text/html", path
        assert len(response.headers.get_all("Vary")) == 1, path  # no header twice
        vary = {part.strip().lower() for part in response.headers.get("Vary", "").split(",")}
        assert {"cookie", "accept-language"} <= vary, (path, response.headers.get("Vary"))


async def test_a_pages_own_vary_is_kept_and_completed(app: Quart) -> None:
    async with app.test_request_context("/"):
        page = Response("<p>hi</p>", content_type="text/html")
        page.headers["Vary"] = "Origin"
        page = await add_security_headers(page)
    assert page.headers.get_all("Vary") == ["Origin, Cookie, Accept-Language"]
