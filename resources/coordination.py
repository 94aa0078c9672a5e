"""The coordination resource: the store behind the message bus and the shared context.

Embedded default: a SQLite file (WAL mode) in the project data folder, safe for parallel writers
in several processes. Production: PostgreSQL (``postgresql+psycopg2://…``), chosen by URL.
"""

from __future__ import annotations

import threading

import dagster as dg
from pydantic import Field

from orchestration_project.agents.coordination.bus import MessageBus
from orchestration_project.agents.coordination.context import SharedContext
from orchestration_project.agents.coordination.store import CoordinationStore

_STORES: dict[str, CoordinationStore] = {}
_LOCK = threading.Lock()


class CoordinationResource(dg.ConfigurableResource):
    """Durable agent coordination: message bus (frontiers, fact streams) and shared context
    (versioned facts with provenance, compare-and-set writes)."""

    url: str = Field(
        description="SQLAlchemy URL of the coordination store: sqlite:////abs/path.db locally, "
        "postgresql+psycopg2://… in production."
    )

    def store(self) -> CoordinationStore:
        """The process-wide store for this URL (tables created on first use)."""
        with _LOCK:
            if self.url not in _STORES:
                _STORES[self.url] = CoordinationStore(self.url)
            return _STORES[self.url]

    def bus(self) -> MessageBus:
        """The message bus over the store."""
        return MessageBus(self.store())

    def context(self) -> SharedContext:
        """The shared, versioned fact context over the store."""
        return SharedContext(self.store())
