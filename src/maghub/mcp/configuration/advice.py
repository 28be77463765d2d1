"""Advice on one MCP server config, for ``POST /api/servers/validate``: errors, warnings, suggestions.

- **Errors** are exactly the parser's problems (:mod:`maghub.mcp.configuration.server_config` alone
  decides what is valid); this module only gives each one a stable code for clients to switch on.
- **Warnings** are configs that parse but will likely fail or leak when the server starts: a command
  that is not there, a package runner with no package, a credential in ``args``, plain HTTP, …
- **Suggestions** are optional improvements, each with the value to use.

Pure domain code and quick enough to call from the event loop: it looks at the file system
(``shutil.which``, ``os.path``) but starts no process and opens no connection. It never raises for any
JSON input; everything wrong is reported.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Final
from urllib.parse import urlsplit

# The parser's own key tables, so "unknown field" means exactly "no dialect reads it".
from maghub.mcp.configuration.server_config import (
    _CANONICAL_OF,
    _IDENTITY_KEYS,
    ServerConfig,
    Transport,
    parse_hub_server,
    parse_server_entry,
    to_hub_config,
)
from maghub.mcp.connections.policy import is_package_runner
from maghub.mcp.errors import ConfigProblem, InvalidServerConfigError
from maghub.security.classifier import find_credential_in_arg
from maghub.security.secrets import mask_secret


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


ABSENT: Final[Any] = _Absent()
"""``Advice.suggested_value`` when the advice has none (``None`` is a value a field can take)."""


@dataclass(frozen=True)
class Advice:
    field: str
    message: str
    code: str
    suggested_value: Any = ABSENT

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"field": self.field, "message": self.message, "code": self.code}
        if self.suggested_value is not ABSENT:
            data["suggestedValue"] = self.suggested_value
        return data


@dataclass(frozen=True)
class ConfigReview:
    is_valid: bool
    errors: list[Advice]
    warnings: list[Advice]
    suggestions: list[Advice]

    def to_json(self) -> dict[str, Any]:
        """The ``data`` object of the hub's validate endpoint."""
        return {
            "isValid": self.is_valid,
            "errors": [item.to_json() for item in self.errors],
            "warnings": [item.to_json() for item in self.warnings],
            "suggestions": [item.to_json() for item in self.suggestions],
        }


def review_server_config(raw: object, *, server_id: str | None = None) -> ConfigReview:
    """Review one server config of any dialect (hub ``config`` object, MAG or Claude Desktop entry)."""
    config, errors = _parse(raw, server_id)
    warnings: list[Advice] = []
    suggestions: list[Advice] = []
    if config is not None:
        if config.transport == Transport.STDIO:
            warnings += _command_warnings(config)
            secrets = _secret_warnings(config.args)
            warnings += _runner_advice(config, suggestions, has_secret=bool(secrets))
            warnings += secrets
        else:
            warnings += _url_warnings(config)
    if isinstance(raw, Mapping):
        # Also for invalid configs: a misspelt key ("comand") is often the cause of the error.
        warnings += _unknown_field_warnings(raw)
        suggestions += _explicit_field_suggestions(raw, config)
    return ConfigReview(is_valid=not errors, errors=errors, warnings=warnings, suggestions=suggestions)


# --- errors -------------------------------------------------------------------------------------------


def _parse(raw: object, server_id: str | None) -> tuple[ServerConfig | None, list[Advice]]:
    try:
        if server_id is None:
            # The name only matters for the parser's messages, which this module rewrites.
            return parse_server_entry("server", raw), []
        return parse_hub_server(server_id, raw), []
    except InvalidServerConfigError as exc:
        problems = exc.problems
    # A bad hub id usually breaks the lenient name rule too; report it once.
    if any(problem.field == "id" for problem in problems):
        problems = [problem for problem in problems if problem.field != "name"]
    return None, [_error(problem, raw, server_id) for problem in problems]


def _error(problem: ConfigProblem, raw: object, server_id: str | None) -> Advice:
    field, message = problem.field, problem.message
    if field is None:
        return Advice("config", f"The configuration {message}; got {_json_kind(raw)}.", "INVALID_CONFIG")
    if field in ("id", "name"):
        shown = f" {server_id!r}" if isinstance(server_id, str) else ""
        return Advice("id", f"The server id{shown} {message}.", "INVALID_ID")
    if _CANONICAL_OF.get(field) == "transport":
        code = "INVALID_TYPE"
    elif field in ("command", "url"):
        given = raw.get(field) if isinstance(raw, Mapping) else None
        blank = given is None or (isinstance(given, str) and not given.strip())
        code = f"{'MISSING' if blank else 'INVALID'}_{field.upper()}"
    else:
        code = "INVALID_FIELD"
    # The parser's messages continue the field name ("is required …", "must be …") or stand alone.
    joiner = " " if message.split(" ", 1)[0] in ("is", "must", "cannot") else ": "
    return Advice(field, f"'{field}'{joiner}{message}.", code)


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, Sequence) else "an object" if isinstance(value, Mapping) else "a value"


# --- stdio: the command and its package ---------------------------------------------------------------

_INSTALL_HINTS = {"npx": "Node.js", "npm": "Node.js", "node": "Node.js", "uvx": "uv", "uv": "uv", "bunx": "Bun"}


def _command_warnings(config: ServerConfig) -> list[Advice]:
    command = config.command or ""
    if os.sep in command or (os.altsep and os.altsep in command):
        return _path_warnings(command, config.cwd)
    # The server's own PATH (if its env sets one) is where the process will look it up.
    found = _which(command, config.env.get("PATH"))
    where = f"here it resolves to {found}" if found else "it is not found on this hub's PATH right now"
    warnings = [
        Advice(
            "command",
            f"'{command}' is a program name without a path, so it is looked up on PATH each time the "
            f"server starts; {where}. Give the full path if the server must not depend on PATH.",
            "COMMAND_PATH_WARNING",
        )
    ]
    if not found:
        program = PurePath(command).name.lower()
        hint = f" (it comes with {_INSTALL_HINTS[program]})" if program in _INSTALL_HINTS else ""
        warnings.append(
            Advice(
                "command",
                f"'{command}' is not installed or not on the hub's PATH, so the server will fail to start; "
                f"install it{hint} or give the full path to the program.",
                "COMMAND_NOT_FOUND",
            )
        )
    return warnings


def _path_warnings(command: str, cwd: str | None) -> list[Advice]:
    path = os.path.expanduser(command)
    # A relative command is resolved against the server's cwd when it has one (as subprocess does).
    base = f"the server's cwd {cwd!r}" if cwd else "the hub's working directory"
    if cwd and not os.path.isabs(path):
        path = os.path.join(os.path.expanduser(cwd), path)
    if not _probe(os.path.isfile, path):
        is_absolute = os.path.isabs(os.path.expanduser(command))
        relative = "" if is_absolute else f" (relative to {base})"
        fix = "check the path" if is_absolute else "check the path or give an absolute one"
        return [
            Advice(
                "command",
                f"'{command}' does not exist or is not a file{relative}; {fix}.",
                "COMMAND_NOT_FOUND",
            )
        ]
    if not _probe(lambda p: os.access(p, os.X_OK), path):
        return [
            Advice(
                "command",
                f"'{command}' exists but is not executable; make it executable (chmod +x) or run it through "
                "its interpreter, e.g. command 'python' with the script in args.",
                "COMMAND_NOT_EXECUTABLE",
            )
        ]
    return []


def _which(command: str, path: str | None) -> str | None:
    try:
        return shutil.which(command, path=path)
    except (OSError, ValueError):  # NUL bytes, lone surrogates, names too long for the OS
        return None


def _probe(check: Any, path: str) -> bool:
    try:
        return bool(check(path))
    except (OSError, ValueError):
        return False


def _runner_advice(config: ServerConfig, suggestions: list[Advice], *, has_secret: bool) -> list[Advice]:
    """Package runners (npx, uvx, npm exec, docker run, …): a package must be named; npx wants -y."""
    command, args = config.command or "", config.args
    if not is_package_runner(command, args):
        return []
    # Runners that need a subcommand ("npm exec", "uv run") are not runners without one; skip it.
    rest = args if is_package_runner(command, []) else args[1:]
    packages = [arg for arg in rest if not arg.startswith("-") or arg.startswith("--package=")]
    if not packages:
        example = ' e.g. ["-y", "time-mcp"]' if _program(command) == "npx" else ""
        return [
            Advice(
                "args",
                f"'{command}' runs a package, but args name none (only flags or nothing); add the package "
                f"to run to args,{example or ' after the flags'}.",
                "NPX_MISSING_PACKAGE",
            )
        ]
    # npx may stop to ask before installing a package; a stdio server's stdin is the MCP connection,
    # so nobody can answer. Recent npm skips the question without a terminal; -y makes it certain.
    if _program(command) == "npx" and not any(arg in ("-y", "--yes") or arg.startswith("--yes=") for arg in args):
        message = (
            "Add -y as the first argument so npx never waits for a confirmation to install the package "
            "(nobody can answer it: the server's stdin is the MCP connection)."
        )
        if has_secret:  # the suggested args would repeat the credential in clear
            suggestions.append(Advice("args", message, "NPX_YES_FLAG"))
        else:
            suggestions.append(Advice("args", message, "NPX_YES_FLAG", ["-y", *args]))
    return []


def _program(command: str) -> str:
    return PurePath(command).name.lower().removesuffix(".exe").removesuffix(".cmd")


# --- stdio: credentials in args -----------------------------------------------------------------------


def _secret_warnings(args: Sequence[str]) -> list[Advice]:
    warnings = []
    for index, arg in enumerate(args):
        found = find_credential_in_arg(arg, args[index - 1] if index else None)
        if found is None:
            continue
        secret, flag = found.text(arg), found.flag
        shown = arg.replace(secret, mask_secret(secret))
        whose = f", the value of '{flag}'" if flag else ""
        target = f" (for example as {_env_name(flag)})" if flag else ""
        warnings.append(
            Advice(
                "args",
                f"args[{index}] ('{shown}'{whose}) looks like a credential. maghub stores it encrypted and "
                "masks it, but while the server runs its arguments are visible to every user of this machine "
                f"(ps); env values are not. Move it to env{target} if the server can read it from there.",
                "SECRET_IN_ARGS",
            )
        )
    return warnings


def _env_name(flag: str | None) -> str:
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", (flag or "").lstrip("-"))
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper() or "API_KEY"


# --- HTTP transports ----------------------------------------------------------------------------------


def _url_warnings(config: ServerConfig) -> list[Advice]:
    warnings = []
    parts = urlsplit(config.url or "")
    host = parts.hostname or ""
    if parts.scheme == "http" and not _is_local(host):
        also = " and its headers (credentials included)" if config.headers else ""
        warnings.append(
            Advice(
                "url",
                f"The URL uses plain http:// to '{host}', so every request{also} travels unencrypted; "
                "use https:// unless the network between the hub and the server is trusted.",
                "INSECURE_URL",
            )
        )
    if config.transport == Transport.SSE:
        warnings.append(
            Advice(
                "type",
                "The SSE transport is deprecated in MCP (since protocol 2025-03-26) in favour of streamable "
                "HTTP; if the server supports it, use type 'streamable-http' and its endpoint (often /mcp).",
                "SSE_DEPRECATED",
            )
        )
    return warnings


def _is_local(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


# --- fields -------------------------------------------------------------------------------------------

_KNOWN_KEYS = frozenset(_CANONICAL_OF) | _IDENTITY_KEYS


def _unknown_field_warnings(raw: Mapping[Any, Any]) -> list[Advice]:
    warnings = []
    for key, value in raw.items():
        if key in _KNOWN_KEYS or value is None:  # the parser ignores nulls
            continue
        name = str(key)
        close = difflib.get_close_matches(name, sorted(_KNOWN_KEYS), n=1, cutoff=0.75)
        guess = f" Did you mean '{close[0]}'?" if close else ""
        warnings.append(
            Advice(
                name,
                f"Unknown field '{name}': no MCP config format (hub, MAG, Claude Desktop) uses it, so it is "
                f"kept as given but has no effect.{guess}",
                "UNKNOWN_FIELD",
            )
        )
    return warnings


def _explicit_field_suggestions(raw: Mapping[Any, Any], config: ServerConfig | None) -> list[Advice]:
    def given(*keys: str) -> bool:
        return any(raw.get(key) is not None for key in keys)

    suggestions = []
    if not given("enabled", "disabled"):
        suggestions.append(
            Advice("enabled", "Set enabled explicitly; without it the server is enabled.", "ENABLED_MISSING", True)
        )
    if config is not None and not given(*(key for key, field in _CANONICAL_OF.items() if field == "transport")):
        hub_type = to_hub_config(config)["type"]
        suggestions.append(
            Advice(
                "type",
                f"Set type explicitly; without it the transport is inferred as '{hub_type}' "
                f"from {'the url' if config.url and config.transport != Transport.STDIO else 'the command'}.",
                "TYPE_MISSING",
                hub_type,
            )
        )
    return suggestions
