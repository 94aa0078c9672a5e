"""The store behind the message bus and the shared context.

Locally a SQLite file in WAL mode: many processes may read while one writes; write transactions
begin with ``BEGIN IMMEDIATE`` (in ``transaction()``) so concurrent writers queue on ``busy_timeout`` instead of failing
when a read transaction tries to upgrade. In production PostgreSQL, through the same SQLAlchemy
Core code, chosen only by the URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()

messages = sa.Table(
    "bus_messages",
    metadata,
    sa.Column("offset", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("topic", sa.String(300), nullable=False, index=True),
    sa.Column("key", sa.String(300), nullable=False),
    sa.Column("message_id", sa.String(200), nullable=False, unique=True),
    sa.Column("causation_id", sa.String(200)),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

offsets = sa.Table(
    "bus_offsets",
    metadata,
    sa.Column("group_name", sa.String(300), primary_key=True),
    sa.Column("topic", sa.String(300), primary_key=True),
    sa.Column("committed", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

processed = sa.Table(
    "bus_processed",
    metadata,
    sa.Column("group_name", sa.String(300), primary_key=True),
    sa.Column("message_id", sa.String(200), primary_key=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("done", sa.Boolean, nullable=False, default=False),
)

dead_letters = sa.Table(
    "bus_dead_letters",
    metadata,
    sa.Column("group_name", sa.String(300), primary_key=True),
    sa.Column("message_id", sa.String(200), primary_key=True),
    sa.Column("topic", sa.String(300), nullable=False),
    sa.Column("offset", sa.Integer, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
)

facts = sa.Table(
    "context_facts",
    metadata,
    sa.Column("namespace", sa.String(300), primary_key=True),
    sa.Column("key", sa.String(500), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("value", sa.JSON),
    sa.Column("source", sa.String(2000), nullable=False),
    sa.Column("agent", sa.String(300), nullable=False),
    sa.Column("observed_at", sa.DateTime(timezone=True)),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
)


class CoordinationStore:
    """A SQLAlchemy engine on SQLite (local) or PostgreSQL (production), with the tables of the
    bus and the context created on first use.

    Args:
        url: ``sqlite:////absolute/path.db`` or ``postgresql+psycopg2://user:pw@host/db``.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = sa.engine.make_url(url).database
            if path:
                from pathlib import Path

                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine = sa.create_engine(
                url, connect_args={"timeout": 60, "check_same_thread": False}
            )
            _sqlite_immediate_transactions(self.engine)
        else:
            self.engine = sa.create_engine(url, pool_pre_ping=True)
        self.create_tables(metadata)

    def create_tables(self, md: sa.MetaData) -> None:
        """Create ``md``'s tables if missing (safe when several processes race to do it)."""
        for _ in range(5):
            try:
                with self.transaction() as conn:  # BEGIN IMMEDIATE on SQLite: no upgrade deadlock
                    md.create_all(conn, checkfirst=True)
                return
            except sa.exc.OperationalError as exc:  # a racing process created them first
                if "already exists" not in str(exc):
                    raise
            except sa.exc.IntegrityError:
                continue

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """A connection inside one transaction (committed on success, rolled back on error)."""
        with self.engine.connect() as conn:
            conn.execution_options(sqlite_immediate=True)
            with conn.begin():
                yield conn

    def insert_ignore(self, table: sa.Table) -> Any:
        """An INSERT that silently skips rows whose key already exists (both dialects)."""
        if self.is_sqlite:
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        return insert(table).on_conflict_do_nothing()

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()


def _sqlite_immediate_transactions(engine: sa.Engine) -> None:
    """SQLAlchemy's documented recipe: let SQLAlchemy, not pysqlite, emit BEGIN, and make it
    BEGIN IMMEDIATE so writers take the lock up front; WAL and a busy timeout per connection."""

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        # Writers (``transaction()``) take the write lock up front; readers don't block anyone.
        immediate = conn.get_execution_options().get("sqlite_immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
