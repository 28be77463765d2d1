"""Domain errors. The HTTP layer maps them to status codes; domain code never imports FastAPI.

Every error that can reach a caller is a :class:`MaghubError`. Three exceptions stay outside the
hierarchy on purpose: they describe a failure *inside* a turn or a run, which is reported as an
event (the stream goes on, the run is stored as failed and resumable), never as an HTTP error.
Each is converted where it is caught:

- :class:`maghub.llm.errors.LLMError`, a failed LLM call (its ``kind`` says why, its message what
  to check). ``agent/loop.py`` turns it into an ``AgentFailed`` event, which a chat stream sends as
  an error payload, ``chat/reply.py`` raises as :class:`UpstreamError` (502) for a non-streamed chat
  and the graph engine raises as ``NodeError``. ``chat/titles.py`` logs it and keeps the default
  title; ``chat/compaction.py`` raises it as ``SummarisationFailed``.
- :class:`maghub.chat.compaction.SummarisationFailed`, a tool result that could not be summarised:
  the precise compaction keeps that result truncated instead.
- :class:`maghub.graphs.running.engine.NodeError`, a node that cannot finish (its model failed, its
  model or MCP server was deleted after the run started). ``GraphTurn`` stores the node's round as
  failed, reports ``NodeFailed`` and ends the run with ``RunFinished(status=failed)``; the run can be
  resumed.
"""

from __future__ import annotations


class MaghubError(Exception):
    """Base class: ``str(error)`` is a message fit for the user (what is wrong, how to fix it).

    ``code`` optionally names the error for APIs with error codes (the hub's ``SERVER_EXISTS`` …).
    """

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class NotFoundError(MaghubError):
    pass


class ConflictError(MaghubError):
    """The request collides with existing state (a name already taken, a resource busy)."""


class InvalidInputError(MaghubError):
    """Input that passed schema validation but makes no sense in context."""


class ForbiddenError(MaghubError):
    pass


class UnavailableError(MaghubError):
    """The server cannot take this request now (shutting down, a dependency down)."""


class UpstreamError(MaghubError):
    """A service maghub depends on (an LLM provider) failed the request."""


class ConfigurationError(MaghubError):
    """Settings that cannot work; reported at startup."""


class AuthenticationError(MaghubError):
    """No credentials, or credentials that do not prove who the caller is."""


class TooManyRequestsError(MaghubError):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, code="TOO_MANY_REQUESTS")
        self.retry_after = retry_after
