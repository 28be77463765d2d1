"""Graphs have an owner (SPEC §9): everyone reads and runs a graph, only its owner or an admin changes,
renames or deletes it. Graphs from local mode or from before owners existed are admins' to change.
On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from graph_samples import graph, node, subgraph

from maghub.graphs.definition.config import GraphDocument
from maghub.testing.harness import RunningMaghub

SignIn = Callable[[str], Awaitable[dict[str, str]]]


def solo(name: str, **fields: object) -> dict:
    return graph(name, node("A", ["start"], ["end"]), **fields)


async def owner_id(maghub: RunningMaghub, name: str) -> str | None:
    """What the database holds (the API does not show owners)."""
    from maghub.store.repositories.graphs import GraphRepository

    async with maghub.runtime.database.read() as session:
        row = await GraphRepository(session).get(name)
        assert row is not None
        return row.owner_id


async def user_id(maghub: RunningMaghub, headers: dict[str, str]) -> str:
    return (await maghub.client.get("/api/auth/me", headers=headers)).json()["id"]


async def test_only_the_owner_or_an_admin_changes_a_graph(secured: RunningMaghub, sign_in: SignIn) -> None:
    client = secured.client
    await secured.runtime.users.create("bob", "bob-password")
    alice, bob, root = await sign_in("alice"), await sign_in("bob"), await sign_in("root")
    assert (await client.post("/graphs", json=solo("mine"), headers=alice)).status_code == 200
    assert await owner_id(secured, "mine") == await user_id(secured, alice)

    # bob reads and runs it, but cannot overwrite, rename or delete it; nothing changes
    assert (await client.get("/graphs/mine", headers=bob)).json()["version"] == 1
    overwrite = await client.post("/graphs", json=solo("mine", description="bob's"), headers=bob)
    assert overwrite.status_code == 403
    message = overwrite.json()["detail"]
    assert "belongs to user 'alice'" in message and "another name" in message
    assert (await client.put("/graphs/mine/rename/bobs", headers=bob)).status_code == 403
    assert (await client.delete("/graphs/mine", headers=bob)).status_code == 403
    unchanged = (await client.get("/graphs/mine", headers=bob)).json()
    assert unchanged["version"] == 1 and "description" not in unchanged
    assert (await client.get("/graphs", headers=bob)).json() == ["mine"]

    # an invalid document from bob is still a 403, not a validation report of alice's graph
    assert (await client.post("/graphs", json={"name": "mine", "nodes": []}, headers=bob)).status_code == 403

    # the owner changes it; an admin too, and the owner stays
    assert (await client.post("/graphs", json=solo("mine", description="v2"), headers=alice)).status_code == 200
    assert (await client.post("/graphs", json=solo("mine", description="v3"), headers=root)).status_code == 200
    assert await owner_id(secured, "mine") == await user_id(secured, alice)
    renamed = await client.put("/graphs/mine/rename/ours", headers=alice)
    assert renamed.status_code == 200, renamed.text
    assert await owner_id(secured, "ours") == await user_id(secured, alice)  # a rename keeps the owner
    assert (await client.delete("/graphs/ours", headers=root)).status_code == 200
    assert (await client.get("/graphs", headers=alice)).json() == []


async def test_graphs_without_an_owner_are_changed_by_admins(secured: RunningMaghub, sign_in: SignIn) -> None:
    """Graphs saved in local mode (or before this version) have no owner."""
    await secured.runtime.graphs.save(GraphDocument.model_validate(solo("legacy")))
    assert await owner_id(secured, "legacy") is None
    alice, root = await sign_in("alice"), await sign_in("root")
    refused = await secured.client.post("/graphs", json=solo("legacy", description="x"), headers=alice)
    assert refused.status_code == 403 and "has no owner" in refused.json()["detail"]
    assert (await secured.client.delete("/graphs/legacy", headers=alice)).status_code == 403
    assert (await secured.client.put("/graphs/legacy/rename/x", headers=root)).status_code == 200


async def test_a_deleted_users_graphs_are_admins_to_change(secured: RunningMaghub, sign_in: SignIn) -> None:
    await secured.runtime.users.create("bob", "bob-password")
    bob = await sign_in("bob")
    assert (await secured.client.post("/graphs", json=solo("orphan"), headers=bob)).status_code == 200
    await secured.runtime.users.delete("bob")
    alice, root = await sign_in("alice"), await sign_in("root")
    refused = await secured.client.delete("/graphs/orphan", headers=alice)
    assert refused.status_code == 403 and "deleted" in refused.json()["detail"]
    assert (await secured.client.delete("/graphs/orphan", headers=root)).status_code == 200


async def test_imports_belong_to_the_importer(secured: RunningMaghub, sign_in: SignIn, tmp_path: Path) -> None:
    client = secured.client
    alice, root = await sign_in("alice"), await sign_in("root")
    upload = {"file": ("up.json", json.dumps(solo("uploaded")), "application/json")}
    assert (await client.post("/graphs/import_from_file", files=upload, headers=alice)).status_code == 200
    assert await owner_id(secured, "uploaded") == await user_id(secured, alice)

    # a package with a subgraph: both graphs are the importer's
    sub = graph("inner", node("X", ["start"], ["end"]))
    outer = graph("outer", subgraph("S", "inner", ["start"], ["end"]))
    for document in (sub, outer):
        assert (await client.post("/graphs", json=document, headers=root)).status_code == 200
    package = (await client.get("/graphs/outer/package", headers=root)).content
    for name in ("outer", "inner"):
        assert (await client.delete(f"/graphs/{name}", headers=root)).status_code == 200
    files = {"file": ("outer.zip", package, "application/zip")}
    imported = await client.post("/graphs/import_package_from_file", files=files, headers=alice)
    assert imported.status_code == 200, imported.text
    assert imported.json()["imported_subgraphs"] == ["inner"]
    alice_id = await user_id(secured, alice)
    assert [await owner_id(secured, name) for name in ("outer", "inner")] == [alice_id, alice_id]

    path = tmp_path / "from-disk.json"
    path.write_text(json.dumps(solo("from-disk")))
    assert (await client.post("/graphs/import", json={"file_path": str(path)}, headers=root)).status_code == 200
    assert await owner_id(secured, "from-disk") == await user_id(secured, root)


async def test_local_mode_has_no_owners(maghub: RunningMaghub) -> None:
    """Without auth everything is as before: graphs get no owner and anyone changes them."""
    client = maghub.client
    assert (await client.post("/graphs", json=solo("open"))).status_code == 200
    assert await owner_id(maghub, "open") is None
    await maghub.runtime.users.create("bob", "bob-password")
    login = await client.post("/api/auth/login", json={"username": "bob", "password": "bob-password"})
    bob = {"Authorization": f"Bearer {login.json()['access_token']}"}
    # a token sent in local mode changes nothing either
    assert (await client.post("/graphs", json=solo("open", description="x"), headers=bob)).status_code == 200
    assert (await client.put("/graphs/open/rename/still-open")).status_code == 200
    assert (await client.delete("/graphs/still-open")).status_code == 200
