"""Agent coordination: a durable message bus, a versioned shared context, conflict resolution."""

from orchestration_project.agents.coordination.bus import Message, MessageBus
from orchestration_project.agents.coordination.conflicts import (
    STRATEGIES,
    Claim,
    ConflictResolver,
    Decision,
)
from orchestration_project.agents.coordination.context import Fact, SharedContext, VersionConflict
from orchestration_project.agents.coordination.store import CoordinationStore

__all__ = [
    "STRATEGIES",
    "Claim",
    "ConflictResolver",
    "CoordinationStore",
    "Decision",
    "Fact",
    "Message",
    "MessageBus",
    "SharedContext",
    "VersionConflict",
]
