"""Alembic, async: the URL comes from the app's settings, not from alembic.ini.

`guestbook db upgrade` and the tests pass the URL in `config.attributes`; a plain
`alembic upgrade head` reads GUESTBOOK_DATABASE_URL like the app does.
"""

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from guestbook.config import Settings
from guestbook.db import make_engine
from guestbook.models import Base

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _settings() -> Settings:
    url = config.attributes.get("database_url")
    settings = Settings.from_env()
    return settings.with_overrides(database_url=url) if url else settings


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead, so a
        # migration never leaves the database half-changed.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    settings = _settings()
    if settings.is_sqlite:
        settings.instance_path.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings)
    try:
        async with engine.connect() as connection:
            if settings.is_sqlite:
                # SQLite's own recipe for changing a table by copying it: foreign keys off
                # (outside any transaction, else the pragma does nothing), so dropping the
                # old table deletes no row that refers to it through a cascade; checked
                # before the commit.
                await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await connection.run_sync(_configure)
            if settings.is_sqlite:
                await _check_foreign_keys(connection)
            await connection.commit()
    finally:
        await engine.dispose()


async def _check_foreign_keys(connection: AsyncConnection) -> None:
    broken = (await connection.exec_driver_sql("PRAGMA foreign_key_check")).all()
    if broken:
        raise RuntimeError(f"the migration left rows whose foreign keys point nowhere: {broken}")


def run_migrations_offline() -> None:
    context.configure(
        url=_settings().database_url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
    else:
        asyncio.run(run_async_migrations())
