"""Encryption at rest for secrets and their masked display form. Which values are secrets is decided
by :mod:`maghub.security.classifier`."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from maghub.errors import ConfigurationError

KEY_FILE_NAME = "secret.key"
MASK_MARK = "…"


class SecretKeyError(ConfigurationError):
    """The configured or stored key cannot be used."""


class SecretBox:
    """Encrypts and decrypts short secrets with one Fernet key (AES-128-CBC + HMAC-SHA256)."""

    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as exc:
            raise SecretKeyError(
                "The secret key is not a valid Fernet key (32 url-safe base64-encoded bytes). "
                "Generate one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            ) from exc

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretKeyError(
                "A stored secret cannot be decrypted with the current key: the data dir's secret.key "
                "or MAGHUB_SECRET_KEY changed since it was stored. Restore the original key."
            ) from exc


def load_or_create_key(data_dir: Path, configured: str | None) -> bytes:
    """The configured key, else the data dir's key file, created once with mode 0600."""
    if configured:
        return configured.encode()
    return read_or_create_private_file(data_dir / KEY_FILE_NAME, Fernet.generate_key)


def read_or_create_private_file(path: Path, generate: Callable[[], bytes]) -> bytes:
    """The file's content; on first use ``generate()`` is written to it, readable by this user only."""
    try:
        # O_EXCL makes concurrent first starts agree on one value instead of overwriting each other.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    value = generate()
    with os.fdopen(fd, "wb") as handle:
        handle.write(value)
    return value


def mask_secret(secret: str) -> str:
    """Show enough of a secret to recognise it, never enough to use it: ``sk-…abcd``."""
    if not secret:
        return ""
    if len(secret) < 12:
        return MASK_MARK
    prefix = secret[:3]
    return f"{prefix}{MASK_MARK}{secret[-4:]}"


def is_masked_form(candidate: str, stored: str) -> bool:
    """True when ``candidate`` is what a client read back instead of the secret itself."""
    candidate = candidate.strip()
    masked = mask_secret(stored)
    return candidate in ("***", MASK_MARK, masked, masked.replace(MASK_MARK, "..."))


def is_masked_or_blank(candidate: str | None, stored: str) -> bool:
    """True when a client sent back the masked form (or nothing): the stored secret is kept."""
    return candidate is None or not candidate.strip() or is_masked_form(candidate, stored)
