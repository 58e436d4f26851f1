"""The figures, scraped from a real `guestbook serve` with two workers, read back with
prometheus-client's own parser: each one moves when its cause happens, the two workers'
figures add up on one listener of its own, and the public site has no /metrics."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from guestbook.metrics.batched import FLUSH_SECONDS
from servers import GUESTBOOK, HYPERCORN_TOML, LiveServer, free_port, migrate, next_event
from support import (
    Visitor,
    new_ip,
    new_name,
    own_database,
    post_form,
    production_env,
    signup,
)

Figures = dict[tuple[str, frozenset[tuple[str, str]]], float]
LOGIN_LIMIT = 3


def figures(text: str) -> Figures:
    """Every sample of a scrape, by (name, labels)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(scrape: Figures, name: str, **labels: str) -> float:
    """The sum of `name`'s samples that carry `labels`."""
    wanted = set(labels.items())
    return sum(value for (n, have), value in scrape.items() if n == name and wanted <= have)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[LiveServer, str]]:
    """Two workers, metrics on a port of their own, mail to an SMTP server that is down."""
    metrics_port = free_port()
    with own_database(tmp_path, "metrics") as url:
        env = production_env(
            url,
            GUESTBOOK_ALLOW_SQLITE="1",
            GUESTBOOK_METRICS_BIND=f"127.0.0.1:{metrics_port}",
            GUESTBOOK_MAIL_BACKEND="smtp",
            GUESTBOOK_SMTP_PORT=str(free_port()),  # nobody listens: every send fails
            GUESTBOOK_SMTP_TIMEOUT="1",
            GUESTBOOK_MAIL_POLL_SECONDS="0.2",
            GUESTBOOK_LOGIN_LIMIT=str(LOGIN_LIMIT),
        )
        migrate(env)
        argv = [GUESTBOOK, "serve", "-c", HYPERCORN_TOML, "--workers", "2"]
        with LiveServer(tmp_path, env, argv=argv) as live:
            yield live, f"http://127.0.0.1:{metrics_port}/metrics"


async def scrape(client: httpx.AsyncClient, url: str) -> Figures:
    response = await client.get(url)
    assert response.status_code == 200
    return figures(response.text)


async def until(client: httpx.AsyncClient, url: str, moved, timeout: float = 20) -> Figures:  # noqa: ANN001
    """Scrapes until `moved(scrape)` holds (the workers write as they go)."""
    for _ in range(int(timeout / 0.1)):
        scraped = await scrape(client, url)
        if moved(scraped):
            return scraped
        await asyncio.sleep(0.1)
    raise AssertionError(f"the figures did not move within {timeout} s")


async def test_each_figure_moves_when_its_cause_happens(
    server: tuple[LiveServer, str],
) -> None:
    live, metrics = server
    name, body = new_name(), f"counted {uuid.uuid4().hex}"
    async with httpx.AsyncClient(timeout=30) as client:
        before = await scrape(client, metrics)
        assert (await client.get(f"{live.url}/metrics")).status_code == 404  # never public
        for _ in range(4):  # a reader's page, kept whole after its first rendering
            assert (await client.get(f"{live.url}/")).status_code == 200
        # A burst of lookups at once: some wait for a connection.
        burst = [client.get(f"{live.url}/users/{name}-nobody{n}") for n in range(30)]
        assert {r.status_code for r in await asyncio.gather(*burst)} == {404}

        async with (
            Visitor(new_ip()) as member,
            connect(f"ws://127.0.0.1:{live.port}/live", origin=live.url) as socket,
        ):
            await next_event(socket)  # the reload a socket with no number gets
            await signup(member, live.url, name)  # queues a welcome mail
            opened = await until(client, metrics, lambda s: total(s, "guestbook_live_sockets") == 1)
            posted = await post_form(
                member, f"{live.url}/messages", {"body": body}, page=f"{live.url}/"
            )
            assert posted.status_code == 302
            assert (await next_event(socket))["type"] == "created"
            lag = "guestbook_live_fanout_lag_seconds_count"
            heard = await until(client, metrics, lambda s: total(s, lag) > total(opened, lag))
        async with Visitor(new_ip()) as guesser:
            statuses = [
                (
                    await post_form(
                        guesser, f"{live.url}/auth/login", {"username": name, "password": "wrong"}
                    )
                ).status_code
                for _ in range(LOGIN_LIMIT + 1)
            ]
            assert statuses == [401] * LOGIN_LIMIT + [429]
        await asyncio.sleep(FLUSH_SECONDS + 0.5)  # the requests' figures are written each second
        after = await until(
            client,
            metrics,
            lambda s: (
                total(s, "guestbook_mail_send_failures_total") > 0
                and total(s, "guestbook_mail_outbox_pending") >= 1
                and total(s, "guestbook_live_sockets") == 0
            ),
        )

    def moved(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    # Requests by route template and status, never by path, with their times: the
    # histogram's count is the requests.
    requests = "guestbook_http_request_duration_seconds_count"
    assert moved(requests, route="/", status="200", method="GET") >= 4
    assert moved(requests, route="/users/<username>", status="404") >= 4
    assert moved(requests, route="(unmatched)", status="404") == 1  # /metrics
    assert moved(requests, route="/auth/login", status="429", method="POST") == 1
    assert not [labels for (n, labels) in after if n == requests and name in str(labels)]
    assert moved("guestbook_http_request_duration_seconds_sum", route="/") > 0
    # Whole pages kept: the first of a kind is a miss in each worker, the rest hits.
    assert moved("guestbook_page_cache_lookups_total", result="miss") >= 1
    assert moved("guestbook_page_cache_lookups_total", result="hit") >= 1
    # Live: the open socket counted while open, and the lag of its event's frame.
    assert total(opened, "guestbook_live_sockets") == 1
    assert total(heard, "guestbook_live_fanout_lag_seconds_count") >= 1
    assert total(heard, "guestbook_live_fanout_lag_seconds_sum") < 10
    # Writing: the post's group commit. The pool: the checkouts of the burst that
    # waited for the connection (or opened one), and none left in use by the requests
    # (a worker's mail sender or fan-out may hold one as it reads).
    assert moved("guestbook_group_commit_batch_rows_count") == 1
    assert moved("guestbook_db_pool_wait_seconds_count", pool="main") >= 1
    assert 0 <= total(after, "guestbook_db_connections_in_use", pool="main") <= 4
    # Logins: the wrong passwords, and the limit's refusal.
    assert moved("guestbook_failed_logins_total") == LOGIN_LIMIT
    assert moved("guestbook_rate_limit_refusals_total", limit="login-name-ip") == 1
    # Mail: the welcome mail waits, ages, and its sends fail.
    assert total(after, "guestbook_mail_outbox_pending") == 1
    assert total(after, "guestbook_mail_outbox_oldest_age_seconds") > 0
    assert moved("guestbook_mail_send_failures_total", outcome="retry") >= 1


def test_the_listener_refuses_a_bad_address_in_one_line(tmp_path: Path) -> None:
    env = production_env(
        f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}",
        GUESTBOOK_ALLOW_SQLITE="1",
        GUESTBOOK_METRICS_BIND="127.0.0.1:metrics",
    )
    import subprocess

    from servers import child_env

    done = subprocess.run(
        [GUESTBOOK, "serve", "-c", HYPERCORN_TOML],
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "guestbook: GUESTBOOK_METRICS_BIND='127.0.0.1:metrics': "
        "expected HOST:PORT, e.g. 127.0.0.1:9100"
    ]
