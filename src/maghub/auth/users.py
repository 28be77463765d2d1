"""User accounts: creation, listing, disabling, deletion, passwords, login (throttled) and resolving a
bearer token to a current user.

The module-level functions work on a database directly (``maghub users ...`` uses them with the server
stopped); :class:`UserService` is the server's view of the same. Every change that could leave the
instance without an enabled admin is refused, so nobody locks the admins out by accident.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.exc import IntegrityError

from maghub.auth.passwords import hash_password, password_problem, verify_password
from maghub.auth.throttle import LoginThrottle
from maghub.auth.tokens import IssuedToken, TokenService
from maghub.errors import AuthenticationError, ConflictError, InvalidInputError, NotFoundError
from maghub.store.database import Database
from maghub.store.repositories.users import UserRepository
from maghub.store.tables import UserRow, utcnow

Role = Literal["admin", "user"]
USERNAME = re.compile(r"^[a-zA-Z0-9_.@-]{1,64}$")
_BAD_LOGIN = "Wrong username or password."


@dataclass(frozen=True)
class User:
    id: str
    username: str
    role: Role
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @classmethod
    def from_row(cls, row: UserRow) -> User:
        role: Role = "admin" if row.role == "admin" else "user"
        return cls(row.id, row.username, role, row.disabled, row.created_at, row.last_login_at)


def _check_password(password: str) -> None:
    if problem := password_problem(password):
        raise InvalidInputError(f"The password {problem}.")


def _exists(username: str) -> ConflictError:
    return ConflictError(f"A user named '{username}' already exists; choose another name.")


async def create_user(database: Database, username: str, password: str, *, admin: bool = False) -> User:
    if not USERNAME.match(username):
        raise InvalidInputError("Usernames are 1-64 characters: letters, digits and . _ @ - only.")
    _check_password(password)
    password_hash = await hash_password(password)
    try:
        async with database.write() as session:
            repo = UserRepository(session)
            if await repo.get(username) is not None:
                raise _exists(username)
            row = UserRow(username=username, password_hash=password_hash, role="admin" if admin else "user")
            repo.add(row)
    except IntegrityError as exc:
        raise _exists(username) from exc
    return User.from_row(row)


async def list_users(database: Database) -> list[User]:
    async with database.read() as session:
        return [User.from_row(row) for row in await UserRepository(session).list()]


async def _require_user(repo: UserRepository, username: str) -> UserRow:
    row = await repo.get(username)
    if row is None:
        raise NotFoundError(f"User '{username}' does not exist; list the users to see their names.")
    return row


async def _keep_an_admin(repo: UserRepository, row: UserRow, doing: str) -> None:
    """Refuse (409) to ``doing`` the last enabled admin: nobody could manage the instance after it."""
    # Locked (PostgreSQL): two requests disabling the last two admins at once cannot both pass.
    admins: Sequence[UserRow] = await repo.enabled_admins(for_update=True)
    if [admin.id for admin in admins] == [row.id]:
        raise ConflictError(
            f"User '{row.username}' is the last enabled admin and cannot be {doing}; "
            "create or enable another admin first."
        )


async def set_disabled(database: Database, username: str, disabled: bool) -> User:
    """Disable (their tokens stop working at once) or enable a user."""
    async with database.write() as session:
        repo = UserRepository(session)
        row = await _require_user(repo, username)
        if disabled and not row.disabled:
            await _keep_an_admin(repo, row, "disabled")
        row.disabled = disabled
        row.updated_at = utcnow()
        return User.from_row(row)


async def delete_user(database: Database, username: str) -> None:
    """Delete a user (their tokens stop working at once). Their graphs stay, changeable by admins;
    their conversations stay stored under their name."""
    async with database.write() as session:
        repo = UserRepository(session)
        row = await _require_user(repo, username)
        await _keep_an_admin(repo, row, "deleted")
        await repo.delete(row)


async def set_password(database: Database, username: str, password: str) -> None:
    """Replace a user's password; the tokens issued before stop working."""
    _check_password(password)
    password_hash = await hash_password(password)
    async with database.write() as session:
        row = await _require_user(UserRepository(session), username)
        row.password_hash = password_hash
        row.password_changed_at = row.updated_at = utcnow()


class UserService:
    def __init__(self, database: Database, tokens: TokenService, throttle: LoginThrottle | None = None) -> None:
        self._db = database
        self.tokens = tokens
        self.throttle = throttle or LoginThrottle()

    async def create(self, username: str, password: str, *, admin: bool = False) -> User:
        return await create_user(self._db, username, password, admin=admin)

    async def all(self) -> list[User]:
        return await list_users(self._db)

    async def set_disabled(self, username: str, disabled: bool) -> User:
        return await set_disabled(self._db, username, disabled)

    async def delete(self, username: str) -> None:
        await delete_user(self._db, username)

    async def set_password(self, username: str, password: str) -> None:
        await set_password(self._db, username, password)

    async def login(self, username: str, password: str, client: str) -> tuple[IssuedToken, User]:
        """A token for valid credentials; failures are throttled per username and client address."""
        self.throttle.check(username, client)
        async with self._db.read() as session:
            row = await UserRepository(session).get(username)
        valid = await verify_password(password, row.password_hash if row else None)
        if not valid or row is None or row.disabled:
            self.throttle.failed(username, client)
            # One message for all three: a caller must not learn which usernames exist.
            raise AuthenticationError(_BAD_LOGIN)
        self.throttle.succeeded(username, client)
        async with self._db.write() as session:
            stored = await UserRepository(session).get(username)
            if stored is not None:
                stored.last_login_at = utcnow()
                row = stored
        user = User.from_row(row)
        token = self.tokens.issue(
            username=user.username, user_id=user.id, role=user.role, password_version=_password_version(row)
        )
        return token, user

    async def authenticate(self, token: str) -> User:
        """The user a bearer token speaks for, as stored now (a disabled user's tokens stop working)."""
        claims = self.tokens.verify(token)
        async with self._db.read() as session:
            row = await UserRepository(session).get(claims.subject)
        if row is None or row.id != claims.user_id:
            raise AuthenticationError("The user of this token no longer exists; log in again.")
        if row.disabled:
            raise AuthenticationError(f"User '{row.username}' is disabled.")
        if claims.password_version != _password_version(row):
            raise AuthenticationError("The password was changed after this token was issued; log in again.")
        return User.from_row(row)


def _password_version(row: UserRow) -> int | None:
    """When the password last changed, exactly (µs): tokens carry it, so a change ends the older ones."""
    changed = row.password_changed_at
    return None if changed is None else round(changed.timestamp() * 1_000_000)
