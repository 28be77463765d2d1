"""JSON Web Tokens: HS256 only, with expiry, issuer and audience checked on every request."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt

from maghub.errors import AuthenticationError
from maghub.security.secrets import read_or_create_private_file

ALGORITHM = "HS256"
ISSUER = "maghub"
AUDIENCE = "maghub-api"
JWT_SECRET_FILE_NAME = "jwt.secret"


@dataclass(frozen=True)
class TokenClaims:
    subject: str  # the username
    user_id: str
    role: str
    expires_at: datetime
    password_version: int | None
    """When the user's password last changed (µs since the epoch) as the token was issued; None: never."""


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int  # seconds


def load_or_create_jwt_secret(data_dir: Path, configured: str | None) -> bytes:
    """The configured secret (its length is checked by the settings), else one generated once."""
    if configured:
        return configured.encode()
    return read_or_create_private_file(data_dir / JWT_SECRET_FILE_NAME, lambda: secrets.token_urlsafe(48).encode())


class TokenService:
    def __init__(self, secret: bytes, lifetime: timedelta) -> None:
        self._secret = secret
        self.lifetime = lifetime

    def issue(self, *, username: str, user_id: str, role: str, password_version: int | None = None) -> IssuedToken:
        now = datetime.now(UTC)
        claims: dict[str, object] = {
            "sub": username,
            "uid": user_id,
            "role": role,
            "iat": now,
            "nbf": now,
            "exp": now + self.lifetime,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "jti": uuid.uuid4().hex,
        }
        if password_version is not None:
            claims["pwv"] = password_version  # a password change ends the tokens issued before it
        token = jwt.encode(claims, self._secret, algorithm=ALGORITHM)
        return IssuedToken(access_token=token, expires_in=int(self.lifetime.total_seconds()))

    def verify(self, token: str) -> TokenClaims:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],  # pinned: "none" and every other algorithm are refused
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                leeway=5,
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("The access token has expired; log in again at POST /api/auth/login.") from None
        except jwt.InvalidTokenError as exc:
            raise AuthenticationError(
                f"The access token is not valid ({exc}); log in again at POST /api/auth/login."
            ) from None
        return TokenClaims(
            subject=str(claims["sub"]),
            user_id=str(claims.get("uid", "")),
            role=str(claims.get("role", "user")),
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            password_version=claims.get("pwv") if isinstance(claims.get("pwv"), int) else None,
        )
