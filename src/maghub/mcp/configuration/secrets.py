"""Which fields of an MCP server configuration carry secrets, and the four uses of the classifier on
them (:mod:`maghub.security.classifier`): masked for responses, blanked for exports, sealed for
storage, scrubbed from messages; plus masked values posted back turned into the stored secrets."""

from __future__ import annotations

from typing import Any

from maghub.mcp.configuration.server_config import ServerConfig
from maghub.mcp.errors import ConfigProblem, InvalidServerConfigError
from maghub.security.classifier import (
    Kind,
    blanked_fields,
    masked_fields,
    masked_leftovers,
    restored_fields,
    sealed,
    secret_texts_of,
)
from maghub.security.redaction import Redactor

SERVER_SECRET_FIELDS = {"env": Kind.ENV, "headers": Kind.HEADERS, "args": Kind.ARGS, "url": Kind.URL}
# Always stored encrypted whole; ``args`` and ``url`` only when they hold a secret (see sealed_server).
ENCRYPTED_FIELDS = ("env", "headers")
_SEALED_WHEN_SECRET = {"args": Kind.ARGS, "url": Kind.URL}


def _values(config: ServerConfig) -> dict[str, Any]:
    return {name: getattr(config, name) for name in SERVER_SECRET_FIELDS}


def masked_server(config: ServerConfig) -> ServerConfig:
    """The form that may leave the server: every secret in env, headers, args and url masked."""
    return config.model_copy(update=masked_fields(_values(config), SERVER_SECRET_FIELDS))


def shareable_server(config: ServerConfig) -> tuple[ServerConfig, list[str]]:
    """The form an export holds: every secret left out; and what was ("env.API_KEY", "args[1]", ...)."""
    blank, blanks = blanked_fields(_values(config), SERVER_SECRET_FIELDS)
    return config.model_copy(update=blank), blanks


def restore_server_secrets(config: ServerConfig, stored: ServerConfig) -> ServerConfig:
    """``config`` with the masked secrets a client read back replaced by ``stored``'s."""
    return config.model_copy(update=restored_fields(_values(config), _values(stored), SERVER_SECRET_FIELDS))


def check_no_masked_values(configs: list[ServerConfig]) -> None:
    """Refuse configurations that still hold a masked secret (``…``) where no stored secret replaced it:
    storing the mask would break the server with a confusing authentication error later."""
    problems = []
    for config in configs:
        for name, kind in SERVER_SECRET_FIELDS.items():
            for where in masked_leftovers(kind, getattr(config, name)):
                problems.append(
                    ConfigProblem(
                        config.name,
                        name,
                        f"{name}{where} is a masked value (…) with no stored secret to keep; send the secret itself",
                    )
                )
    if problems:
        raise InvalidServerConfigError(problems)


def sealed_server(config: ServerConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """The configuration split for storage: what is stored in clear (args and url with their secrets
    left out), and what is stored encrypted (env, headers, and args and url in full when they hold a
    secret). Reading it back is ``{**clear, **secret}``: the encrypted values win."""
    clear = config.model_dump(mode="json", exclude={"name", *ENCRYPTED_FIELDS})
    clear_parts, secret = sealed(_values(config), _SEALED_WHEN_SECRET)
    clear.update(clear_parts)
    for name in ENCRYPTED_FIELDS:
        if value := getattr(config, name):
            secret[name] = value
    return clear, secret


def server_secret_texts(config: ServerConfig) -> list[str]:
    return secret_texts_of(_values(config), SERVER_SECRET_FIELDS)


def server_redactor(config: ServerConfig) -> Redactor:
    """Scrubs ``config``'s secrets from text (error messages that echo its URL, stderr that echoes its args)."""
    return Redactor(server_secret_texts(config))
