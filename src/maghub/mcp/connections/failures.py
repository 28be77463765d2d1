"""Turn whatever a failed connection raised into a classified, readable failure.

The SDK and httpx2 fail in many shapes (OSError from the spawn, MCPError, httpx2 errors, and exception
groups wrapping any of them from the transports' task groups); users need to know which of a handful
of things went wrong and what to check. Messages never hold the server's secrets: URLs are shown
masked, and what comes from outside (exception texts, the server's stderr) is scrubbed of them.

Imports the MCP SDK: only the connection code loaded by :func:`maghub.mcp.connections.sdk.load_sdk` uses this module.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace

import httpx2
import mcp_types
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from maghub.mcp.configuration.secrets import masked_server, server_redactor
from maghub.mcp.configuration.server_config import ServerConfig, Transport
from maghub.mcp.connections.policy import is_package_runner
from maghub.mcp.connections.status import ConnectionFailure, FailureKind
from maghub.mcp.connections.transports import LinkAttempt
from maghub.security.classifier import Kind, masked

_HTTP_HINTS = {
    400: "is the transport right? An SSE endpoint and a streamable HTTP endpoint do not speak the same protocol",
    401: "check the credentials in 'headers' (e.g. Authorization)",
    403: "check the credentials in 'headers' (e.g. Authorization)",
    404: "check the URL path (streamable HTTP endpoints usually end in /mcp, SSE endpoints in /sse)",
    405: "is the transport right? An SSE endpoint and a streamable HTTP endpoint do not speak the same protocol",
}


def describe_failure(
    error: BaseException, config: ServerConfig, attempt: LinkAttempt, *, connected: bool
) -> ConnectionFailure:
    return _scrubbed(_describe(error, config, attempt, connected=connected), config)


def timeout_failure(config: ServerConfig, seconds: float, attempt: LinkAttempt) -> ConnectionFailure:
    message = f"no completed MCP handshake within {seconds:g} s"
    if config.transport == Transport.STDIO and config.command and is_package_runner(config.command, config.args):
        message += " (the first start of a package may download it; check the package name and the network)"
    return _scrubbed(ConnectionFailure(FailureKind.TIMEOUT, _with_stderr(message, attempt)), config)


def lost_failure(reason: str, attempt: LinkAttempt, config: ServerConfig) -> ConnectionFailure:
    return _scrubbed(_lost(reason, attempt), config)


def _scrubbed(failure: ConnectionFailure, config: ServerConfig) -> ConnectionFailure:
    return replace(failure, message=server_redactor(config)(failure.message))


def _lost(reason: str, attempt: LinkAttempt) -> ConnectionFailure:
    return ConnectionFailure(FailureKind.CONNECTION_LOST, _with_stderr(f"connection lost: {reason}", attempt))


def _describe(
    error: BaseException, config: ServerConfig, attempt: LinkAttempt, *, connected: bool
) -> ConnectionFailure:
    cause = _most_telling(error)
    url = masked_server(config).url
    if connected:
        return _lost(_plain(cause), attempt)
    if isinstance(cause, OSError) and config.transport == Transport.STDIO and attempt.link is None:
        return _spawn_failure(cause, config)
    if isinstance(cause, httpx2.HTTPStatusError):
        return _http_failure(cause.response)
    if attempt.http_status is not None and attempt.http_status.last_error is not None:
        # The streamable HTTP client reports most statuses only as "Server returned an error response".
        return _http_failure(attempt.http_status.last_error)
    if isinstance(cause, httpx2.TimeoutException):
        return ConnectionFailure(FailureKind.TIMEOUT, f"{url} did not answer in time ({_plain(cause)})")
    if isinstance(cause, httpx2.TransportError):
        return ConnectionFailure(FailureKind.CONNECTION_FAILED, f"cannot connect to {url}: {_plain(cause)}")
    if (
        isinstance(cause, MCPError)
        and cause.code == mcp_types.CONNECTION_CLOSED
        and config.transport == Transport.STDIO
    ):
        return ConnectionFailure(
            FailureKind.PROCESS_EXITED,
            _with_stderr(
                "the server process exited (or closed its output) before the MCP handshake completed", attempt
            ),
        )
    if isinstance(cause, MCPError | ValidationError | RuntimeError):
        return ConnectionFailure(
            FailureKind.HANDSHAKE_ERROR, _with_stderr(f"the MCP handshake failed: {_plain(cause)}", attempt)
        )
    return ConnectionFailure(FailureKind.HANDSHAKE_ERROR, _with_stderr(f"connecting failed: {_plain(cause)}", attempt))


def _spawn_failure(error: OSError, config: ServerConfig) -> ConnectionFailure:
    if config.cwd and error.filename == config.cwd:
        return ConnectionFailure(
            FailureKind.SPAWN_FAILED, f"cannot start the server in {config.cwd!r}: {error.strerror}; check 'cwd'"
        )
    if isinstance(error, FileNotFoundError):
        search_path = config.env.get("PATH", os.environ.get("PATH", ""))
        return ConnectionFailure(
            FailureKind.COMMAND_NOT_FOUND,
            f"command {config.command!r} was not found; install it or give its full path "
            f"(searched PATH={search_path[:300]})",
        )
    if isinstance(error, PermissionError):
        return ConnectionFailure(
            FailureKind.SPAWN_FAILED, f"command {config.command!r} cannot be run: permission denied (is it executable?)"
        )
    return ConnectionFailure(FailureKind.SPAWN_FAILED, f"cannot start {config.command!r}: {error.strerror or error}")


def _http_failure(response: httpx2.Response) -> ConnectionFailure:
    status = response.status_code
    url = masked(Kind.URL, str(response.request.url))
    message = f"{response.request.method} {url} answered HTTP {status} {response.reason_phrase}"
    if hint := _HTTP_HINTS.get(status):
        message += f"; {hint}"
    return ConnectionFailure(FailureKind.HTTP_STATUS, message, http_status=status)


def _with_stderr(message: str, attempt: LinkAttempt) -> str:
    tail = attempt.stderr.text if attempt.stderr else ""
    return f"{message}. The server's last stderr output:\n{tail}" if tail else message


def _most_telling(error: BaseException) -> BaseException:
    """The leaf exception that explains a failure best; exception groups from the transports' task
    groups hide the real error, sometimes beside secondary ones."""
    leaves = list(_leaves(error))
    for kinds in ((httpx2.HTTPStatusError,), (OSError, httpx2.HTTPError), (MCPError,)):
        for leaf in leaves:
            if isinstance(leaf, kinds):
                return leaf
    return leaves[0] if leaves else error


def _leaves(error: BaseException) -> Iterator[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from _leaves(inner)
    else:
        yield error


def _plain(error: BaseException) -> str:
    if isinstance(error, MCPError):
        return f"{error.message} (MCP error {error.code})"
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
