"""User accounts: creation, login (throttled) and resolving a bearer token to a current user."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.exc import IntegrityError

from maghub.auth.passwords import hash_password, password_problem, verify_password
from maghub.auth.throttle import LoginThrottle
from maghub.auth.tokens import IssuedToken, TokenService
from maghub.errors import AuthenticationError, InvalidInputError, NotFoundError
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


async def create_user(database: Database, username: str, password: str, *, admin: bool = False) -> User:
    if not USERNAME.match(username):
        raise InvalidInputError("Usernames are 1-64 characters: letters, digits and . _ @ - only.")
    if problem := password_problem(password):
        raise InvalidInputError(f"The password {problem}.")
    password_hash = await hash_password(password)
    try:
        async with database.write() as session:
            repo = UserRepository(session)
            if await repo.get(username) is not None:
                raise InvalidInputError(f"A user named '{username}' already exists.")
            row = UserRow(username=username, password_hash=password_hash, role="admin" if admin else "user")
            repo.add(row)
    except IntegrityError as exc:
        raise InvalidInputError(f"A user named '{username}' already exists.") from exc
    return User.from_row(row)


class UserService:
    def __init__(self, database: Database, tokens: TokenService, throttle: LoginThrottle | None = None) -> None:
        self._db = database
        self.tokens = tokens
        self.throttle = throttle or LoginThrottle()

    async def create(self, username: str, password: str, *, admin: bool = False) -> User:
        return await create_user(self._db, username, password, admin=admin)

    async def set_disabled(self, username: str, disabled: bool) -> None:
        async with self._db.write() as session:
            row = await UserRepository(session).get(username)
            if row is None:
                raise NotFoundError(f"User '{username}' does not exist.")
            row.disabled = disabled
            row.updated_at = utcnow()

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
        return self.tokens.issue(username=user.username, user_id=user.id, role=user.role), user

    async def authenticate(self, token: str) -> User:
        """The user a bearer token speaks for, as stored now (a disabled user's tokens stop working)."""
        claims = self.tokens.verify(token)
        async with self._db.read() as session:
            row = await UserRepository(session).get(claims.subject)
        if row is None or row.id != claims.user_id:
            raise AuthenticationError("The user of this token no longer exists; log in again.")
        if row.disabled:
            raise AuthenticationError(f"User '{row.username}' is disabled.")
        return User.from_row(row)
