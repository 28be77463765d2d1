"""Password hashing with argon2id. Hashing takes ~150 ms of CPU, so it runs in a worker thread."""

from __future__ import annotations

from functools import cache

import anyio.to_thread
from pwdlib import PasswordHash

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # argon2 accepts more, but nobody types that: it would only be a DoS vector


@cache
def _hasher() -> PasswordHash:
    return PasswordHash.recommended()


@cache
def _decoy_hash() -> str:
    return _hasher().hash("maghub decoy password")


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"must be at most {MAX_PASSWORD_LENGTH} characters"
    return None


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(_hasher().hash, password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    """Check ``password``; with no hash (unknown user) a decoy is checked, so timing does not tell
    which usernames exist."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    target = password_hash if password_hash else await anyio.to_thread.run_sync(_decoy_hash)
    matches = await anyio.to_thread.run_sync(lambda: _hasher().verify(password, target))
    return matches and password_hash is not None
