"""The store behind the message bus and the shared context.

Locally a SQLite file in WAL mode: many processes may read while one writes. Every transaction
that may write begins with ``BEGIN IMMEDIATE`` (SQLAlchemy's documented pysqlite recipe), so
concurrent writers queue on ``busy_timeout`` instead of failing when a read lock would have to be
upgraded; read-only paths of this package use ``read()`` (a plain deferred ``BEGIN``), which
never blocks in WAL mode. In production PostgreSQL, through the same SQLAlchemy Core code,
chosen only by the URL.

Tables (all on ``metadata``):

* ``bus_messages`` — offset (autoincrement PK), topic, key, message_id (unique), causation_id,
  payload (JSON), created_at.
* ``bus_offsets`` — (group_name, topic) PK, committed offset, updated_at.
* ``bus_processed`` — (group_name, message_id) PK, attempts, done.
* ``bus_dead_letters`` — (group_name, message_id) PK, topic, offset, error, attempts, failed_at.
* ``context_facts`` — (namespace, key, version) PK, value (JSON), source, agent, observed_at,
  confidence, written_at.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()

# BIGSERIAL on PostgreSQL; INTEGER PRIMARY KEY (the rowid) on SQLite.
_OFFSET = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

messages = sa.Table(
    "bus_messages",
    metadata,
    sa.Column("offset", _OFFSET, primary_key=True, autoincrement=True),
    sa.Column("topic", sa.String(300), nullable=False),
    sa.Column("key", sa.String(300), nullable=False),
    sa.Column("message_id", sa.String(200), nullable=False, unique=True),
    sa.Column("causation_id", sa.String(200)),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_bus_messages_topic_offset", "topic", "offset"),
    sqlite_autoincrement=True,  # offsets are never reused, even after deletes
)

offsets = sa.Table(
    "bus_offsets",
    metadata,
    sa.Column("group_name", sa.String(300), primary_key=True),
    sa.Column("topic", sa.String(300), primary_key=True),
    sa.Column("committed", sa.BigInteger, nullable=False),
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
    sa.Column("offset", sa.BigInteger, nullable=False),
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
        self.is_sqlite = sa.engine.make_url(url).get_backend_name() == "sqlite"
        if self.is_sqlite:
            path = sa.engine.make_url(url).database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine = sa.create_engine(
                url,
                connect_args={"timeout": 30, "check_same_thread": False},
                json_serializer=_json,
            )
            _sqlite_immediate_transactions(self.engine)
        else:
            self.engine = sa.create_engine(url, pool_pre_ping=True, json_serializer=_json)
        self.create_tables(metadata)

    def create_tables(self, md: sa.MetaData) -> None:
        """Create ``md``'s tables and indexes if missing (``checkfirst``).

        Safe when several processes race to do it: on SQLite the check and the CREATE run in
        one ``BEGIN IMMEDIATE`` transaction; on PostgreSQL a racing creator's duplicate-object
        error is caught and the creation retried (it then finds everything present).
        """
        for attempt in range(6):
            try:
                with self.transaction() as conn:
                    md.create_all(conn, checkfirst=True)
                return
            except (sa.exc.OperationalError, sa.exc.IntegrityError, sa.exc.ProgrammingError) as exc:
                text = str(exc).lower()
                racing = "already exists" in text or "duplicate" in text or "unique" in text
                if not racing or attempt == 5:
                    raise
                time.sleep(0.05 * (attempt + 1))

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """A connection inside one transaction (``engine.begin()``): committed on success,
        rolled back on error. On SQLite it starts with ``BEGIN IMMEDIATE``."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A connection for reads only: on SQLite a deferred ``BEGIN``, which takes no write
        lock and so never waits for a writer (WAL). Do not write with it."""
        with self.engine.connect() as conn:
            conn.execution_options(sqlite_deferred=True)
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
    """SQLAlchemy's documented pysqlite recipe: stop pysqlite from emitting BEGIN itself and
    emit it from SQLAlchemy's ``begin`` event — as ``BEGIN IMMEDIATE``, so writers take the
    write lock up front and queue on the busy timeout. WAL, busy timeout and
    ``synchronous=NORMAL`` are set on every new connection."""

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # pysqlite emits no BEGIN of its own
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        deferred = conn.get_execution_options().get("sqlite_deferred")
        conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def _json(obj: Any) -> str:
    """Standard JSON, the same on both stores: NaN and Infinity (which PostgreSQL refuses and
    no JSON reader elsewhere accepts) become null."""
    return json.dumps(_finite(obj), default=str)
