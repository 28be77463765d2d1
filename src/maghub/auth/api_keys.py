"""API keys for machine clients (SPEC §13): long-lived bearer tokens owned by a user and acting as
that user; shown once, stored as a hash, optionally expiring, revocable, last use recorded."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from maghub.auth.users import User
from maghub.errors import AuthenticationError, InvalidInputError, NotFoundError
from maghub.store.database import Database
from maghub.store.repositories.api_keys import ApiKeyRepository
from maghub.store.repositories.users import UserRepository
from maghub.store.tables import ApiKeyRow, utcnow
from maghub.timestamps import iso_utc

KEY_PREFIX = "mgk_"
"""How a key starts: tells a key from a JWT without a lookup (and secret scanners can find them)."""
_SHOWN_PREFIX_CHARS = 12
NAME_MAX_CHARS = 100
LAST_USED_RESOLUTION_SECONDS = 60.0
"""A key's last use is written at most once a minute: not a database write per request."""


def is_api_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def from_row(cls, row: ApiKeyRow) -> ApiKey:
        return cls(row.id, row.name, row.prefix, row.created_at, row.expires_at, row.last_used_at)

    def public_view(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "created_at": iso_utc(self.created_at),
            "expires_at": iso_utc(self.expires_at) if self.expires_at else None,
            "last_used_at": iso_utc(self.last_used_at) if self.last_used_at else None,
        }


class ApiKeyService:
    def __init__(self, database: Database) -> None:
        self._db = database
        self._last_written: dict[str, float] = {}

    async def create(self, username: str, name: str, expires_at: datetime | None = None) -> tuple[ApiKey, str]:
        """A new key of ``username``: the stored key and the key itself, which is never shown again."""
        name = name.strip()
        if not name or len(name) > NAME_MAX_CHARS or "\x00" in name:
            raise InvalidInputError(f"A key needs a name of 1-{NAME_MAX_CHARS} characters, saying what uses it.")
        if expires_at is not None:
            if expires_at.tzinfo is None:
                expires_at = expires_at.replace(tzinfo=UTC)
            if expires_at <= utcnow():
                raise InvalidInputError(
                    "expires_at is in the past: give a future time, or none for a key that does not expire."
                )
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        async with self._db.write() as session:
            user = await UserRepository(session).get(username)
            if user is None:
                raise NotFoundError(f"User '{username}' does not exist; create it with `maghub users create`.")
            row = ApiKeyRow(
                user_id=user.id, name=name, prefix=key[:_SHOWN_PREFIX_CHARS], key_hash=_hash(key), expires_at=expires_at
            )
            ApiKeyRepository(session).add(row)
            await session.flush()
            stored = ApiKey.from_row(row)
        return stored, key

    async def list(self, user_id: str) -> list[ApiKey]:
        async with self._db.read() as session:
            return [ApiKey.from_row(row) for row in await ApiKeyRepository(session).of_user(user_id)]

    async def revoke(self, user_id: str, key_id: str) -> None:
        """Delete a key of ``user_id``; it stops working at once. Another user's key is not found."""
        async with self._db.write() as session:
            repo = ApiKeyRepository(session)
            row = await repo.get(key_id)
            if row is None or row.user_id != user_id:
                raise NotFoundError(f"There is no API key '{key_id}'. GET /api/keys lists yours.")
            await repo.delete(row)
        self._last_written.pop(key_id, None)

    async def authenticate(self, key: str) -> User:
        """The user a key acts as, as stored now. Unknown, revoked and expired keys, and keys of a
        disabled or deleted user, are refused."""
        async with self._db.read() as session:
            found = await ApiKeyRepository(session).with_user(_hash(key))
        if found is None:
            raise AuthenticationError("This API key is not valid: it was revoked or never existed.")
        row, user_row = found
        if row.expires_at is not None and row.expires_at <= utcnow():
            raise AuthenticationError(f"API key '{row.name}' expired at {iso_utc(row.expires_at)}; create a new one.")
        if user_row.disabled:
            raise AuthenticationError(f"User '{user_row.username}' is disabled.")
        await self._record_use(row.id)
        return User.from_row(user_row)

    async def _record_use(self, key_id: str) -> None:
        now = time.monotonic()
        if now - self._last_written.get(key_id, -LAST_USED_RESOLUTION_SECONDS) < LAST_USED_RESOLUTION_SECONDS:
            return
        self._last_written[key_id] = now
        async with self._db.write() as session:
            row = await ApiKeyRepository(session).get(key_id)
            if row is not None:
                row.last_used_at = utcnow()
