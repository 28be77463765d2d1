"""The canonical MCP server configuration, and the three dialects it is read from and written to.

Dialects (SPEC §2 rule 2):

- **MAG** (``{"mcpServers": {name: {...}}}``): ``transportType``, ``type`` (alias), ``disabled``,
  ``timeout``, ``autoApprove``, ``ai_generated``; the web client re-posts what ``GET /mcp/config``
  returned, so ``null`` values and unknown extra fields are accepted.
- **hub** (``/api/servers``): ``type`` = stdio | sse | streamable-http | streamableHttp | http, ``enabled``,
  ``headers``.
- **Claude Desktop** (``{"mcpServers": {name: {command, args, env} | {url}}}``; VS Code's ``servers`` key
  too).

One normaliser reads every dialect, since their keys do not clash. Decisions, where the original was
loose or wrong:

- An explicit transport always wins; only without one is it inferred: a ``url`` means streamable HTTP
  (SSE when the URL path ends in ``/sse``), otherwise stdio. The original switched an explicit
  ``stdio`` to HTTP whenever a ``url`` was present.
- ``"command": "python server.py"`` with no ``args`` (as in the API reference's examples) is split
  like a shell would (``shlex``); ``args`` given as one string is split the same way.
- Server names: hub ids must match ``^[a-zA-Z0-9_-]{1,64}$`` (the hub's rule). MAG and Claude Desktop
  names were any JSON key in the original; we accept any name of 1–100 characters without ``/``,
  ``\\``, control characters or surrounding white space, because names travel in URL paths
  (``/mcp/connect/{name}``) and must round-trip there. Tool names offered to an LLM are sanitised
  separately (:mod:`maghub.mcp.tool_names`), so a lenient server name never leaks into them.
- ``env``/``headers`` values that are numbers or booleans are turned into strings; ``null`` values are
  dropped.
- Validation reports every problem of every server at once, each naming the server, the field and
  the fix.
"""

from __future__ import annotations

import json
import re
import shlex
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from maghub.mcp.errors import ConfigProblem, InvalidServerConfigError
from maghub.security.classifier import Kind, masked

DEFAULT_TIMEOUT_SECONDS = 60.0
MAX_NAME_LENGTH = 100
STRICT_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class Transport(StrEnum):
    STDIO = "stdio"
    SSE = "sse"
    STREAMABLE_HTTP = "streamable_http"


URL_TRANSPORTS = frozenset({Transport.SSE, Transport.STREAMABLE_HTTP})

_EXAMPLE_URLS = {Transport.SSE: "http://127.0.0.1:8000/sse", Transport.STREAMABLE_HTTP: "http://127.0.0.1:8000/mcp"}

# Every spelling seen in the dialects (and in other clients' files), after lower-casing and "-" → "_".
_TRANSPORT_SPELLINGS = {
    "stdio": Transport.STDIO,
    "sse": Transport.SSE,
    "streamable_http": Transport.STREAMABLE_HTTP,
    "streamablehttp": Transport.STREAMABLE_HTTP,
    "streamable": Transport.STREAMABLE_HTTP,
    "http": Transport.STREAMABLE_HTTP,
    "shttp": Transport.STREAMABLE_HTTP,
}

# Keys that name the transport, strongest first: the canonical one, the hub's (and MAG's alias), MAG's.
_TRANSPORT_KEYS = ("transport", "type", "transportType", "transport_type")

# Input keys of the dialects and the canonical field each one feeds (transport and enabled are handled
# apart, because they need more than a rename).
_RENAMES = {
    "command": "command",
    "args": "args",
    "env": "env",
    "cwd": "cwd",
    "url": "url",
    "headers": "headers",
    "timeout": "timeout",
    "autoApprove": "auto_approve",
    "auto_approve": "auto_approve",
    "ai_generated": "ai_generated",
    "aiGenerated": "ai_generated",
    "sampling_model": "sampling_model",
    "samplingModel": "sampling_model",
    "roots": "roots",
}
# The canonical field each input key is reported under.
_CANONICAL_OF = {
    **_RENAMES,
    **{key: "transport" for key in _TRANSPORT_KEYS},
    "enabled": "enabled",
    "disabled": "enabled",
}
# Appended to pydantic's type errors, which say what is wrong but not what is expected.
_FIELD_HINTS = {
    "args": 'a list of strings, e.g. ["-y", "time-mcp"]',
    "env": 'an object of strings, e.g. {"API_KEY": "..."}',
    "headers": 'an object of strings, e.g. {"Authorization": "Bearer ..."}',
    "timeout": "seconds per tool call, e.g. 60",
    "auto_approve": 'a list of tool names, e.g. ["get_time"]',
    "command": "the program to run, e.g. 'npx'",
    "cwd": "a directory path",
    "sampling_model": "the name of a model configured in maghub",
    "roots": 'a list of absolute paths, e.g. ["/home/me/project"]',
}
# Keys that carry the entry's identity, which comes from the enclosing mapping instead.
_IDENTITY_KEYS = frozenset({"name", "id"})

_BOOL = TypeAdapter(bool)

# Collects one problem: (the field as the input named it, what is wrong and how to fix it).
Report = Callable[[str, str], None]


def parse_transport(value: str) -> Transport | None:
    """The transport a dialect's spelling means, or None if it names none."""
    return _TRANSPORT_SPELLINGS.get(value.strip().lower().replace("-", "_"))


def server_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a server name (the lenient MAG rule), or None if it can."""
    if not isinstance(name, str) or not name.strip():
        return "must be a non-empty string"
    if name != name.strip():
        return "must not start or end with white space"
    if len(name) > MAX_NAME_LENGTH:
        return f"must be at most {MAX_NAME_LENGTH} characters"
    if "/" in name or "\\" in name or any(unicodedata.category(ch).startswith("C") for ch in name):
        return "must not contain '/', '\\' or control characters (server names are used in URLs)"
    return None


def strict_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a hub server id, or None if it can."""
    if STRICT_NAME.match(name):
        return None
    return "must be 1-64 characters, only letters, digits, '_' and '-', e.g. 'time-mcp'"


class ServerConfig(BaseModel):
    """One MCP server as maghub stores it; unknown extra fields are kept as given."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str
    transport: Transport = Transport.STDIO
    command: str | None = Field(default=None, validate_default=True)
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = Field(default=None, validate_default=True)
    headers: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True
    timeout: float = Field(default=DEFAULT_TIMEOUT_SECONDS, gt=0, description="Seconds per tool call.")
    auto_approve: list[str] = Field(default_factory=list)
    ai_generated: bool = False
    sampling_model: str | None = Field(
        default=None, description="The maghub model that serves the server's sampling requests (none: refused)."
    )
    roots: list[str] = Field(
        default_factory=list, description="The roots the server is told about: absolute paths or file:// URIs."
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if problem := server_name_problem(value):
            raise ValueError(problem)
        return value

    # Fields are validated in declaration order, so ``transport`` is in ``info.data`` here.
    @field_validator("command")
    @classmethod
    def _check_command(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = value.strip() if value else None
        if info.data.get("transport") == Transport.STDIO and not value:
            raise ValueError(
                "is required for stdio servers: the program to run, e.g. 'npx' or 'python' "
                "(or set the transport to 'sse' or 'streamable_http' and give a url)"
            )
        return value

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = value.strip() if value else None
        transport = info.data.get("transport")
        if transport not in URL_TRANSPORTS:
            return value
        example = _EXAMPLE_URLS[transport]
        if not value:
            raise ValueError(f"is required for {transport} servers: the server's endpoint, e.g. {example}")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            shown = masked(Kind.URL, value)  # an error message must not echo the credentials in it
            raise ValueError(f"must be an http:// or https:// URL, e.g. {example} (got {shown!r})")
        return value

    @field_validator("sampling_model")
    @classmethod
    def _check_sampling_model(cls, value: str | None) -> str | None:
        return value.strip() or None if value else None

    @field_validator("roots")
    @classmethod
    def _check_roots(cls, value: list[str]) -> list[str]:
        for root in value:
            if not (root.startswith("file://") or PurePosixPath(root).is_absolute()):
                raise ValueError(f"must be absolute paths or file:// URIs, e.g. /home/me/project (got {root!r})")
        return value

    def root_uris(self) -> list[str]:
        return [root if root.startswith("file://") else PurePosixPath(root).as_uri() for root in self.roots]

    @property
    def asks_back(self) -> bool:
        """The server may send requests to maghub (sampling, roots): its session needs the
        initialize-era protocol, whose connections carry such requests."""
        return bool(self.sampling_model or self.roots)

    @property
    def connection_settings(self) -> tuple[object, ...]:
        """What a live connection depends on: when these change, the server must reconnect
        (``timeout``, ``enabled``, ``auto_approve`` and extras take effect without one)."""
        return (
            self.transport,
            self.command,
            tuple(self.args),
            self.env,
            self.cwd,
            self.url,
            self.headers,
            self.sampling_model,
            tuple(self.roots),
        )

    def extra_fields(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


# --- parsing ------------------------------------------------------------------------------------------


def parse_server_entry(name: str, raw: object) -> ServerConfig:
    """One server entry of any dialect (MAG, hub ``config`` object, Claude Desktop) → ServerConfig."""
    config, problems = _parse_entry(name, raw)
    if config is None:
        raise InvalidServerConfigError(problems)
    return config


def parse_hub_server(server_id: str, config: object) -> ServerConfig:
    """A hub ``/api/servers`` entry: the id must follow the hub's stricter naming rule."""
    problems: list[ConfigProblem] = []
    if isinstance(server_id, str) and (problem := strict_name_problem(server_id)):
        problems.append(ConfigProblem(server_id, "id", problem))
    parsed, entry_problems = _parse_entry(server_id, config)
    problems.extend(entry_problems)
    if problems or parsed is None:
        raise InvalidServerConfigError(problems)
    return parsed


def parse_mcp_servers(document: object) -> list[ServerConfig]:
    """A MAG ``mcp.json`` body or a Claude Desktop config: ``{"mcpServers": {name: entry}}``.

    VS Code's ``{"servers": {...}}`` is accepted too. Every problem of every entry is reported in one
    :class:`InvalidServerConfigError`.
    """
    if not isinstance(document, Mapping):
        raise InvalidServerConfigError(
            [ConfigProblem(None, None, 'must be a JSON object like {"mcpServers": {"name": {...}}}')]
        )
    key = "mcpServers" if "mcpServers" in document or "servers" not in document else "servers"
    entries = document.get(key)
    if entries is None:
        entries = {}
    if not isinstance(entries, Mapping):
        raise InvalidServerConfigError(
            [ConfigProblem(None, key, 'must be an object mapping server names to configs, e.g. {"time": {...}}')]
        )
    configs: list[ServerConfig] = []
    problems: list[ConfigProblem] = []
    for name, raw in entries.items():
        config, entry_problems = _parse_entry(name, raw)
        problems.extend(entry_problems)
        if config is not None:
            configs.append(config)
    if problems:
        raise InvalidServerConfigError(problems)
    return configs


def check_unique_names(configs: Iterable[ServerConfig]) -> None:
    """Raise if two configs share a name (a set of servers is keyed by name)."""
    counts = Counter(config.name for config in configs)
    problems = [
        ConfigProblem(name, "name", f"is used by {count} servers; names must be unique")
        for name, count in counts.items()
        if count > 1
    ]
    if problems:
        raise InvalidServerConfigError(problems)


def _parse_entry(name: object, raw: object) -> tuple[ServerConfig | None, list[ConfigProblem]]:
    label = name if isinstance(name, str) else repr(name)
    problems: list[ConfigProblem] = []
    if (problem := server_name_problem(name)) is not None:
        problems.append(ConfigProblem(label, "name", problem))
    if not isinstance(raw, Mapping):
        problems.append(ConfigProblem(label, None, 'must be a JSON object, e.g. {"command": "npx", "args": [...]}'))
        return None, problems

    def report(field: str, message: str) -> None:
        problems.append(ConfigProblem(label, field, message))

    fields = _canonical_fields(raw, report)
    # Still run the model on what was understood, so every problem is reported in one go; leave out
    # what is already reported, and what cannot be judged without it.
    reported = {_CANONICAL_OF.get(problem.field or "", problem.field) for problem in problems}
    if "transport" in reported:
        reported |= {"command", "url"}
    candidate = {key: value for key, value in fields.items() if key not in reported}
    candidate["name"] = name if "name" not in reported else "placeholder"
    try:
        config = ServerConfig.model_validate(candidate)
    except ValidationError as exc:
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else None
            if field not in reported:
                message = error["msg"].removeprefix("Value error, ")
                if error["type"] != "value_error" and field in _FIELD_HINTS:
                    message = f"{message} ({_FIELD_HINTS[field]})"
                problems.append(ConfigProblem(label, field, message))
        return None, problems
    return (None, problems) if problems else (config, problems)


def _canonical_fields(raw: Mapping[str, Any], report: Report) -> dict[str, Any]:
    """Rename a dialect's keys to canonical fields; nulls mean "not given"."""
    given = {key: value for key, value in raw.items() if value is not None and key not in _IDENTITY_KEYS}
    fields: dict[str, Any] = {}
    for key, field in _RENAMES.items():
        if key in given:
            fields[field] = given[key]
    extras = {
        key: value
        for key, value in given.items()
        if key not in _RENAMES and key not in _TRANSPORT_KEYS and key not in ("enabled", "disabled")
    }

    if (transport := _transport(given, report)) is not None:
        fields["transport"] = transport
    if (enabled := _enabled(given, report)) is not None:
        fields["enabled"] = enabled
    if "args" in fields:
        fields["args"] = _args(fields["args"], report)
    command = fields.get("command")
    if isinstance(command, str) and not fields.get("args") and len(command.split()) > 1:
        # "python server.py": the API reference writes commands this way.
        words = _split("command", command, report)
        if words:
            fields["command"], fields["args"] = words[0], words[1:]
    for field in ("env", "headers"):
        if field in fields:
            fields[field] = _string_map(field, fields[field], report)
    return {**extras, **fields}


def _transport(given: Mapping[str, Any], report: Report) -> Transport | None:
    for key in _TRANSPORT_KEYS:
        if key not in given:
            continue
        value = given[key]
        transport = parse_transport(value) if isinstance(value, str) else None
        if transport is None:
            report(key, f"{value!r} is not a transport; use 'stdio', 'sse' or 'streamable_http'")
        return transport
    url = given.get("url")
    if isinstance(url, str) and url.strip():
        return Transport.SSE if urlsplit(url.strip()).path.rstrip("/").endswith("/sse") else Transport.STREAMABLE_HTTP
    return None


def _enabled(given: Mapping[str, Any], report: Report) -> bool | None:
    for key, negate in (("enabled", False), ("disabled", True)):
        if key in given:
            try:
                value = _BOOL.validate_python(given[key])
            except ValidationError:
                report(key, f"must be true or false (got {given[key]!r})")
                return None
            return not value if negate else value
    return None


def _args(value: object, report: Report) -> object:
    if isinstance(value, str):
        return _split("args", value, report)
    if isinstance(value, list):
        # Numbers in args ("--port", 8080) are common in hand-written files; they mean their text.
        return [
            json.dumps(item) if isinstance(item, int | float) and not isinstance(item, bool) else item for item in value
        ]
    return value  # pydantic reports the type


def _split(field: str, value: str, report: Report) -> list[str]:
    try:
        return shlex.split(value)
    except ValueError as exc:
        report(field, f"cannot be split into words ({exc}); give the arguments as a JSON list instead")
        return []


def _string_map(field: str, value: object, report: Report) -> object:
    if not isinstance(value, Mapping):
        return value  # pydantic reports the type
    result: dict[str, str] = {}
    for key, item in value.items():
        if item is None:
            continue
        if isinstance(item, str):
            result[str(key)] = item
        elif isinstance(item, bool | int | float):
            result[str(key)] = json.dumps(item)
        else:
            report(field, f"value of {key!r} must be a string (got {type(item).__name__})")
    return result


# --- rendering ----------------------------------------------------------------------------------------


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def to_mag_entry(config: ServerConfig) -> dict[str, Any]:
    """The MAG dialect, in the shape the original's ``GET /mcp/config`` returned (every field present,
    ``null`` where it does not apply), so its web client can edit and re-post it."""
    is_stdio = config.transport == Transport.STDIO
    entry: dict[str, Any] = {
        "autoApprove": list(config.auto_approve),
        "disabled": not config.enabled,
        "timeout": _number(config.timeout),
        "command": config.command if is_stdio else None,
        "args": list(config.args) if is_stdio else [],
        "env": dict(config.env),
        "transportType": config.transport.value,
        "url": None if is_stdio else config.url,
    }
    if config.cwd:
        entry["cwd"] = config.cwd
    if config.headers:
        entry["headers"] = dict(config.headers)
    if config.ai_generated:
        entry["ai_generated"] = True
    entry.update(_client_side_settings(config))
    return {**config.extra_fields(), **entry}


def _client_side_settings(config: ServerConfig) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if config.sampling_model:
        settings["sampling_model"] = config.sampling_model
    if config.roots:
        settings["roots"] = list(config.roots)
    return settings


def to_mag_document(configs: Iterable[ServerConfig]) -> dict[str, Any]:
    return {"mcpServers": {config.name: to_mag_entry(config) for config in configs}}


_HUB_TYPES = {Transport.STDIO: "stdio", Transport.SSE: "sse", Transport.STREAMABLE_HTTP: "streamable-http"}


def to_hub_config(config: ServerConfig) -> dict[str, Any]:
    """The hub dialect's ``config`` object: only the fields that apply to the transport."""
    entry: dict[str, Any] = {"type": _HUB_TYPES[config.transport]}
    if config.transport == Transport.STDIO:
        entry["command"] = config.command
        entry["args"] = list(config.args)
        if config.cwd:
            entry["cwd"] = config.cwd
    else:
        entry["url"] = config.url
        if config.headers:
            entry["headers"] = dict(config.headers)
    if config.env:
        entry["env"] = dict(config.env)
    entry["enabled"] = config.enabled
    entry["timeout"] = _number(config.timeout)
    if config.auto_approve:
        entry["autoApprove"] = list(config.auto_approve)
    if config.ai_generated:
        entry["ai_generated"] = True
    entry.update(_client_side_settings(config))
    return {**config.extra_fields(), **entry}
