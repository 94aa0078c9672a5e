"""The Dagster instance's storage configuration for a PostgreSQL URL (``dagster-postgres``)."""

from typing import Any

import sqlalchemy as sa


def postgres_storage(url: str | sa.URL) -> dict[str, Any]:
    """The ``storage`` section of a Dagster instance that keeps runs, event logs and schedules
    in the database of ``url``. The scheme is psycopg2's: SQLAlchemy 2.1 maps ``postgresql://``
    to psycopg 3, which ``dagster-postgres`` does not install."""
    u = sa.make_url(url)
    return {
        "postgres": {
            "postgres_db": {
                "username": u.username,
                "password": u.password,
                "hostname": u.host or "127.0.0.1",
                "db_name": u.database,
                "port": u.port or 5432,
                "scheme": "postgresql+psycopg2",
            }
        }
    }
