"""Domain errors. The HTTP layer maps them to status codes; domain code never imports FastAPI."""

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
