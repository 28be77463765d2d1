"""User administration over HTTP (``/api/users``), on SQLite and PostgreSQL: admins only, bad input
refused with ``{"detail"}``, passwords never returned, the last enabled admin kept, and a disabled,
deleted or re-passworded user's tokens refused on the very next request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from maghub.testing.harness import RunningMaghub

SignIn = Callable[[str], Awaitable[dict[str, str]]]


def assert_detail(response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert words in str(detail), detail
    assert "Traceback" not in response.text


async def test_admins_manage_users(secured: RunningMaghub, sign_in: SignIn) -> None:
    client = secured.client
    root = await sign_in("root")
    created = await client.post("/api/users", json={"username": "bob", "password": "bob-password"}, headers=root)
    assert created.status_code == 201, created.text
    assert created.json()["username"] == "bob" and created.json()["role"] == "user"
    admin = {"username": "eve", "password": "eve-password", "admin": True}
    assert (await client.post("/api/users", json=admin, headers=root)).json()["role"] == "admin"

    listing = await client.get("/api/users", headers=root)
    assert listing.status_code == 200
    users = {user["username"]: user for user in listing.json()["users"]}
    assert sorted(users) == ["alice", "bob", "eve", "root"] and listing.json()["total"] == 4
    assert users["root"]["role"] == "admin" and users["alice"]["disabled"] is False
    assert "password" not in listing.text and "argon2" not in listing.text and "password_hash" not in listing.text

    bob = await sign_in("bob")  # a user cannot manage users
    assert_detail(await client.get("/api/users", headers=bob), 403, "admin role")
    assert_detail(await client.post("/api/users/alice/disable", headers=bob), 403, "admin role")
    assert_detail(await client.get("/api/users"), 401, "access token")


async def test_bad_input_is_refused_and_nothing_is_stored(secured: RunningMaghub, sign_in: SignIn) -> None:
    client = secured.client
    root = await sign_in("root")
    duplicate = await client.post("/api/users", json={"username": "alice", "password": "long enough!"}, headers=root)
    assert_detail(duplicate, 409, "already exists")
    short = {"username": "x", "password": "short"}
    assert_detail(await client.post("/api/users", json=short, headers=root), 400, "at least 8")
    too_long = {"username": "x", "password": "p" * 1025}
    assert_detail(await client.post("/api/users", json=too_long, headers=root), 400, "at most 1024")
    bad_name = {"username": "a/b", "password": "long enough!"}
    assert_detail(await client.post("/api/users", json=bad_name, headers=root), 400, "Usernames")
    missing = await client.post("/api/users", json={"username": "x"}, headers=root)
    assert missing.status_code == 422 and missing.json()["detail"][0]["field"] == "password"
    users = (await client.get("/api/users", headers=root)).json()["users"]
    assert sorted(user["username"] for user in users) == ["alice", "root"]

    for method, path in (
        ("POST", "/api/users/ghost/disable"),
        ("POST", "/api/users/ghost/enable"),
        ("DELETE", "/api/users/ghost"),
    ):
        assert_detail(await client.request(method, path, headers=root), 404, "does not exist")
    unknown = await client.put("/api/users/ghost/password", json={"password": "long enough!"}, headers=root)
    assert_detail(unknown, 404, "ghost")
    too_short = await client.put("/api/users/alice/password", json={"password": "short"}, headers=root)
    assert_detail(too_short, 400, "at least 8")


async def test_disabled_or_deleted_users_tokens_stop_at_once(secured: RunningMaghub, sign_in: SignIn) -> None:
    client = secured.client
    root, alice = await sign_in("root"), await sign_in("alice")
    assert (await client.get("/models", headers=alice)).status_code == 200

    disabled = await client.post("/api/users/alice/disable", headers=root)
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    assert_detail(await client.get("/models", headers=alice), 401, "disabled")
    refused = await client.post("/api/auth/login", json={"username": "alice", "password": "alice-password"})
    assert refused.status_code == 401

    assert (await client.post("/api/users/alice/enable", headers=root)).json()["disabled"] is False
    assert (await client.get("/models", headers=alice)).status_code == 200  # the same token works again

    assert (await client.delete("/api/users/alice", headers=root)).status_code == 200
    assert_detail(await client.get("/models", headers=alice), 401, "no longer exists")
    assert (await client.get("/api/auth/me", headers=alice)).status_code == 401


async def test_a_new_password_ends_the_old_tokens(secured: RunningMaghub, sign_in: SignIn) -> None:
    client = secured.client
    root, alice = await sign_in("root"), await sign_in("alice")
    changed = await client.put("/api/users/alice/password", json={"password": "a new password"}, headers=root)
    assert changed.status_code == 200 and "a new password" not in changed.text
    assert_detail(await client.get("/models", headers=alice), 401, "password was changed")
    old = await client.post("/api/auth/login", json={"username": "alice", "password": "alice-password"})
    assert old.status_code == 401
    new = await client.post("/api/auth/login", json={"username": "alice", "password": "a new password"})
    assert new.status_code == 200
    fresh = {"Authorization": f"Bearer {new.json()['access_token']}"}
    assert (await client.get("/models", headers=fresh)).status_code == 200


async def test_the_last_enabled_admin_stays(secured: RunningMaghub, sign_in: SignIn) -> None:
    client = secured.client
    root = await sign_in("root")
    assert_detail(await client.post("/api/users/root/disable", headers=root), 409, "last enabled admin")
    assert_detail(await client.delete("/api/users/root", headers=root), 409, "last enabled admin")
    assert (await client.get("/api/auth/me", headers=root)).status_code == 200  # still there, still enabled

    second = {"username": "root2", "password": "root2-password", "admin": True}
    assert (await client.post("/api/users", json=second, headers=root)).status_code == 201
    assert (await client.post("/api/users/root2/disable", headers=root)).status_code == 200
    # a disabled admin does not count: root is still the last enabled one
    assert_detail(await client.delete("/api/users/root", headers=root), 409, "last enabled admin")
    assert (await client.post("/api/users/root2/enable", headers=root)).status_code == 200
    assert (await client.delete("/api/users/root", headers=root)).status_code == 200  # root2 remains
    assert (await client.get("/api/users", headers=root)).status_code == 401  # root's token ended with root
    root2 = await sign_in("root2")
    assert (await client.get("/api/users", headers=root2)).status_code == 200


async def test_local_mode_needs_an_admin_token_too(maghub: RunningMaghub) -> None:
    client = maghub.client
    assert (await client.get("/api/users")).status_code == 401
    await maghub.runtime.users.create("admin", "admin-password", admin=True)
    login = await client.post("/api/auth/login", json={"username": "admin", "password": "admin-password"})
    admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert [user["username"] for user in (await client.get("/api/users", headers=admin)).json()["users"]] == ["admin"]
