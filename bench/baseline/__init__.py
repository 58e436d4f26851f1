"""What our app is measured against: the lecture's Flask original, feature for feature
(`flask_app`) and at its simplest (`flask_simplest`), and a bare Quart hello route
(`hello`), the ceiling of the server itself."""

from sqlalchemy.engine import URL, make_url


def sync_url(database_url: str) -> URL:
    """The URL our app reads (async drivers) with Flask's sync drivers: sqlite3, psycopg."""
    url = make_url(database_url)
    return url.set(
        drivername="sqlite" if url.get_backend_name() == "sqlite" else "postgresql+psycopg"
    )
