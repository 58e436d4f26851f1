"""What the site counts for Prometheus: every figure, defined once, recorded where its
cause happens (the request path, the pool, the group commit, the page cache, the rate
limits, logins, the mail sender, the live fan-out) and served by `exporter`, on a
listener of its own (`GUESTBOOK_METRICS_BIND`), never by the public app.

prometheus-client's multiprocess mode adds up the workers of one `guestbook serve`:
each worker writes its figures to memory-mapped files in `PROMETHEUS_MULTIPROC_DIR`,
which `exporter` sets before the workers start, and the listener reads them all.
Without that variable (tests in process, the CLI) the figures stay in this process's
memory, at the same cost or less. A gauge says how workers' values combine: the sum of
live workers (sockets, connections in use), or the most recent (what the outbox holds,
which every worker's sender sees alike).

Each figure written is a write to a memory-mapped file under a lock (about 2 µs), so a
request writes none: its time and its page-cache lookup are gathered in memory and
written once a second (`batched`); a pool checkout records only when it had to wait;
the connections in use are read off the pool once a second.

May import nothing of `guestbook`: every layer that records a figure imports it.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Seconds, from a kept page (well under a millisecond) to a request that waited out
# the body timeout.
SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

# Its `_count` is the requests answered: one figure, not a counter beside it, halves
# what a request writes.
REQUESTS = Histogram(
    "guestbook_http_request_duration_seconds",
    "HTTP requests answered, from their first step to their response, by method, route "
    "template (the URL rule, never the path) and status",
    ["method", "route", "status"],
    buckets=SECONDS,
)
LIVE_SOCKETS = Gauge("guestbook_live_sockets", "Open /live sockets", multiprocess_mode="livesum")
FANOUT_LAG = Histogram(
    "guestbook_live_fanout_lag_seconds",
    "From a live event's row (written in its commit) to its frame queued for the first socket",
    buckets=SECONDS,
)
OUTBOX_PENDING = Gauge(
    "guestbook_mail_outbox_pending",
    "Mails waiting in the outbox (read by the sender at each look)",
    multiprocess_mode="livemostrecent",
)
OUTBOX_OLDEST = Gauge(
    "guestbook_mail_outbox_oldest_age_seconds",
    "Age of the oldest mail waiting in the outbox, 0 when none waits",
    multiprocess_mode="livemostrecent",
)
MAIL_SENT = Counter("guestbook_mail_sent", "Mails the SMTP server accepted")
MAIL_FAILED = Counter(
    "guestbook_mail_send_failures",
    "Failed send attempts: `retry` (tried again later) or `gave_up`",
    ["outcome"],
)
DB_IN_USE = Gauge(
    "guestbook_db_connections_in_use",
    "Database connections checked out of the pool, by pool (`main`, `control`), read once a second",
    ["pool"],
    multiprocess_mode="livesum",
)
WAIT_FROM_SECONDS = 0.001  # a checkout faster than this found an idle connection
DB_WAITS = Histogram(
    "guestbook_db_pool_wait_seconds",
    "Checkouts that waited for a connection (or opened one): 1 ms or more, by pool",
    ["pool"],
    buckets=SECONDS[1:],
)
GROUP_COMMIT_ROWS = Histogram(
    "guestbook_group_commit_batch_rows",
    "Rows written by one group commit",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
PAGE_CACHE = Counter(
    "guestbook_page_cache_lookups",
    "Whole pages asked of the page cache: `hit` or `miss`",
    ["result"],
)
RATE_LIMITED = Counter(
    "guestbook_rate_limit_refusals",
    "Attempts past a rate limit, by limit (`login-name` is slowed, not refused)",
    ["limit"],
)
FAILED_LOGINS = Counter(
    "guestbook_failed_logins", "Logins with an unknown name or a wrong password"
)
