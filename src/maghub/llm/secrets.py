"""Which fields of a model configuration carry secrets, and the uses of the classifier on them
(:mod:`maghub.security.classifier`): masked for responses, blanked for exports, sealed for storage,
scrubbed from messages; plus masked values posted back turned into the stored secrets."""

from __future__ import annotations

from typing import Any

from maghub.errors import InvalidInputError
from maghub.llm.config import ModelConfig
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
from maghub.security.secrets import is_masked_or_blank

MODEL_SECRET_FIELDS = {"base_url": Kind.URL, "api_key": Kind.WHOLE, "extra_headers": Kind.EVERY_VALUE}
# The API key has a column of its own; these are sealed in the row's ``secrets_encrypted`` when they hold one.
SEALED_FIELDS = {"base_url": Kind.URL, "extra_headers": Kind.EVERY_VALUE}


def _values(config: ModelConfig) -> dict[str, Any]:
    return {name: getattr(config, name) for name in MODEL_SECRET_FIELDS}


def masked_model(config: ModelConfig) -> dict[str, Any]:
    """The configuration as the API shows it: key, secret base URL parts and every extra header value masked."""
    return {**config.model_dump(mode="json"), **masked_fields(_values(config), MODEL_SECRET_FIELDS)}


def shareable_model(config: ModelConfig) -> tuple[dict[str, Any], list[str]]:
    """The configuration as an export holds it, every secret left out; and what was."""
    blank, blanks = blanked_fields(_values(config), MODEL_SECRET_FIELDS)
    entry = {**config.model_dump(exclude_none=True), **blank}
    entry["api_key"] = ""
    if entry.get("extra_headers") is None:
        entry.pop("extra_headers", None)
    return entry, blanks


def restore_model_secrets(config: ModelConfig, stored: ModelConfig) -> ModelConfig:
    """``config`` with the masked secrets a client read back replaced by ``stored``'s; a blank
    ``api_key`` keeps the stored key too (the original's web client sends none when it is not changed)."""
    update = restored_fields(_values(config), _values(stored), MODEL_SECRET_FIELDS)
    if is_masked_or_blank(config.api_key, stored.api_key):
        update["api_key"] = stored.api_key
    return config.model_copy(update=update)


def check_no_masked_values(config: ModelConfig) -> None:
    """Refuse a masked secret (``…``) that no stored secret replaced: it would be sent as the credential."""
    leftovers = [
        f"{name}{where}"
        for name, kind in MODEL_SECRET_FIELDS.items()
        for where in masked_leftovers(kind, getattr(config, name))
    ]
    if leftovers:
        raise InvalidInputError(
            f"Model '{config.name}': {', '.join(leftovers)} "
            f"{'is a masked value' if len(leftovers) == 1 else 'are masked values'} "
            "(…) with no stored secret to keep; send the secret itself."
        )


def sealed_model(config: ModelConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """``base_url`` and ``extra_headers`` split for storage: in clear with their secrets left out, and
    in full (to be encrypted) when they hold one."""
    return sealed(_values(config), SEALED_FIELDS)


def model_secret_texts(config: ModelConfig) -> list[str]:
    return secret_texts_of(_values(config), MODEL_SECRET_FIELDS)


def model_redactor(config: ModelConfig) -> Redactor:
    return Redactor(model_secret_texts(config))
