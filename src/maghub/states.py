"""Types and statuses of stored conversations and their rounds, shared by the store, chat and graph
runs. ``StrEnum``s: they are stored, compared and sent as their string values."""

from __future__ import annotations

from enum import StrEnum

STATE_VERSION_KEY = "state_version"
"""Under this key a conversation's ``details`` name the version of their shape (and of its rounds'
details): see ``maghub.graphs.running.state``. Views of the details leave it out."""


class ConversationType(StrEnum):
    CHAT = "chat"
    GRAPH = "graph"
    """A graph run: one round per node execution (``maghub.graphs.running.state``)."""
    AGENT = "agent"
    """An AI-generation session of the original MAG (listed and shown; maghub creates none)."""


class ConversationStatus(StrEnum):
    """Where the user filed a conversation (reference §1.4)."""

    ACTIVE = "active"
    FAVORITE = "favorite"
    DELETED = "deleted"
    """In the trash: kept, shown, not continued until restored."""


class RoundStatus(StrEnum):
    """A chat turn or a node execution."""

    RUNNING = "running"
    """Being written, or left so by a process that died (a graph run's resume marks it interrupted)."""
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"
    """Cancelled, or its client left (a chat), or its process stopped."""
    FAILED = "failed"
