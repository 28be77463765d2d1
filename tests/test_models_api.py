"""Model management over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import text

from maghub.testing.harness import RunningMaghub, running_maghub

SECRET = "sk-test-0123456789abcdefSECRET"


def model_body(name: str = "deepseek/deepseek-chat", **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "base_url": "https://api.deepseek.com/v1",
        "api_key": SECRET,
        "model": "deepseek-chat",
        **extra,
    }


def path(name: str, prefix: str = "") -> str:
    return f"{prefix}/models/{quote(name, safe='')}"


@pytest.mark.parametrize("prefix", ["", "/api"])
async def test_crud_round_trip_with_slash_in_name(maghub: RunningMaghub, prefix: str) -> None:
    client = maghub.client
    name = "deepseek/deepseek-chat:v2.5"
    created = await client.post(f"{prefix}/models", json=model_body(name, temperature=0.3))
    assert created.status_code == 200, created.text
    assert created.json() == {"status": "success", "message": f"模型 '{name}' 添加成功"}

    listed = (await client.get(f"{prefix}/models")).json()
    assert [m["name"] for m in listed] == [name]
    assert listed[0]["api_key"] == "sk-…CRET"
    assert listed[0]["model"] == "deepseek-chat" and listed[0]["temperature"] == 0.3

    got = await client.get(path(name, prefix))
    assert got.status_code == 200
    assert got.json()["status"] == "success"
    assert got.json()["data"]["base_url"] == "https://api.deepseek.com/v1"
    assert got.json()["data"]["api_key"] == "sk-…CRET"

    updated = await client.put(path(name, prefix), json={**model_body(name), "temperature": 1.5, "api_key": ""})
    assert updated.status_code == 200, updated.text
    assert updated.json()["message"] == f"模型 '{name}' 更新成功"
    assert (await client.get(path(name, prefix))).json()["data"]["temperature"] == 1.5

    deleted = await client.delete(path(name, prefix))
    assert deleted.status_code == 200
    assert deleted.json() == {"status": "success", "message": f"模型 '{name}' 删除成功"}
    assert (await client.get(path(name, prefix))).status_code == 404
    assert (await client.delete(path(name, prefix))).status_code == 404


async def test_api_key_never_leaves_in_clear_nor_is_stored_in_clear(maghub: RunningMaghub) -> None:
    client = maghub.client
    await client.post("/models", json=model_body("a"))
    await client.post("/models", json=model_body("b", extra_headers={"X-Trace": "1"}))
    for response in [await client.get("/models"), await client.get("/models/a"), await client.get("/api/models/b")]:
        assert SECRET not in response.text
        assert SECRET[3:-4] not in response.text
    async with maghub.runtime.database.read() as session:
        stored = (await session.execute(text("SELECT api_key_encrypted, params FROM models"))).all()
    assert stored and all(SECRET not in str(row) for row in stored)
    if maghub.runtime.database.is_sqlite:
        await maghub.runtime.database.dispose()  # flush WAL into the file before reading its bytes
        db_file = Path(maghub.settings.resolved_database_url.split("///", 1)[1])
        raw = b"".join(p.read_bytes() for p in db_file.parent.glob(f"{db_file.name}*"))
        assert b"api_key_encrypted" in raw  # the database's bytes were read
        assert SECRET.encode() not in raw
    key_file = maghub.settings.data_dir / "secret.key"
    assert key_file.stat().st_mode & 0o777 == 0o600


async def test_put_keeps_key_when_blank_or_masked_and_replaces_when_new(maghub: RunningMaghub) -> None:
    client = maghub.client
    await client.post("/models", json=model_body("m"))
    masked = (await client.get("/models/m")).json()["data"]["api_key"]
    for kept in ["", masked, masked.replace("…", "..."), None]:
        body = (
            model_body("m", api_key=kept)
            if kept is not None
            else {k: v for k, v in model_body("m").items() if k != "api_key"}
        )
        response = await client.put("/models/m", json=body)
        assert response.status_code == 200, response.text
        assert (await maghub.runtime.models.get_config("m")).api_key == SECRET
    await client.put("/models/m", json=model_body("m", api_key="sk-brand-new-key-9999"))
    assert (await maghub.runtime.models.get_config("m")).api_key == "sk-brand-new-key-9999"


async def test_put_without_name_keeps_name_and_rename_moves_everything(maghub: RunningMaghub) -> None:
    client = maghub.client
    await client.post("/models", json=model_body("old", seed=7, custom_flag="kept"))
    body = {k: v for k, v in model_body("x", seed=7).items() if k != "name"}
    assert (await client.put("/models/old", json=body)).status_code == 200
    assert [m["name"] for m in (await client.get("/models")).json()] == ["old"]

    renamed = await client.put("/models/old", json=model_body("new/name", api_key=""))
    assert renamed.status_code == 200, renamed.text
    assert (await client.get("/models/old")).status_code == 404
    assert (await maghub.runtime.models.get_config("new/name")).api_key == SECRET


async def test_extra_fields_are_kept(maghub: RunningMaghub) -> None:
    await maghub.client.post("/models", json=model_body("m", provider_note="eu-region", context_window=128000))
    data = (await maghub.client.get("/models/m")).json()["data"]
    assert data["provider_note"] == "eu-region" and data["context_window"] == 128000


async def test_name_conflicts_and_unknown_names(maghub: RunningMaghub) -> None:
    client = maghub.client
    await client.post("/models", json=model_body("a"))
    await client.post("/models", json=model_body("b"))
    duplicate = await client.post("/models", json=model_body("a"))
    assert duplicate.status_code == 400 and "already exists" in duplicate.json()["detail"]
    rename_clash = await client.put("/models/a", json=model_body("b"))
    assert rename_clash.status_code == 400 and "'b' already exists" in rename_clash.json()["detail"]
    unknown = await client.put("/models/nope", json=model_body("nope"))
    assert unknown.status_code == 404 and "does not exist" in unknown.json()["detail"]
    assert (await client.get("/models/nope")).status_code == 404
    assert sorted(m["name"] for m in (await client.get("/models")).json()) == ["a", "b"]


async def test_model_defaults_to_the_name_and_an_update_without_it_keeps_the_stored_one(maghub: RunningMaghub) -> None:
    client = maghub.client
    created = await client.post("/models", json={"name": "gpt-4o-mini", "base_url": "https://x/v1", "api_key": "k"})
    assert created.status_code == 200, created.text
    assert (await client.get("/models/gpt-4o-mini")).json()["data"]["model"] == "gpt-4o-mini"
    await client.post("/models", json=model_body("m"))
    renamed = await client.put("/models/m", json={"name": "m2", "base_url": "https://y/v1", "api_key": ""})
    assert renamed.status_code == 200, renamed.text
    assert (await client.get("/models/m2")).json()["data"]["model"] == "deepseek-chat"
    assert (await client.put("/models/nope", json={"base_url": "https://y/v1"})).status_code == 404


BAD_BODIES = [
    ({"base_url": "https://x/v1", "model": "m"}, "name"),
    ({"name": "m", "model": "m"}, "base_url"),
    (model_body("m", temperature=2.5), "temperature"),
    (model_body("m", top_p=-0.1), "top_p"),
    (model_body("m", max_tokens=0), "max_tokens"),
    (model_body("m", frequency_penalty=3), "frequency_penalty"),
    (model_body("m", top_logprobs=21), "top_logprobs"),
    (model_body("m", timeout=0), "timeout"),
    (model_body("m", temperature="hot"), "temperature"),
    (model_body("m", extra_headers={"X": 1}), "extra_headers"),
    (model_body("m", base_url="ftp://example.com"), "base_url"),
    (model_body("m", base_url="not a url"), "base_url"),
    (model_body("m", model="   "), "model"),
    (model_body("a\\b"), "name"),
    (model_body("a\nb"), "name"),
    (model_body("../etc"), "name"),
    (model_body("/leading"), "name"),
    (model_body("x" * 201), "name"),
    (model_body(" padded"), "name"),
    (model_body(""), "name"),
    ([1, 2, 3], "body"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES, ids=[f for _, f in BAD_BODIES])
async def test_bad_bodies_get_422_naming_the_field_and_store_nothing(
    maghub: RunningMaghub, body: object, field: str
) -> None:
    response = await maghub.client.post("/models", json=body)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert any(error["field"] == field or error["field"].startswith(field) for error in errors), errors
    assert all("input" not in error for error in errors)
    assert SECRET not in response.text
    assert (await maghub.client.get("/models")).json() == []


async def test_bad_put_changes_nothing(maghub: RunningMaghub) -> None:
    await maghub.client.post("/models", json=model_body("m", temperature=0.5))
    before = (await maghub.client.get("/models/m")).json()
    response = await maghub.client.put("/models/m", json=model_body("m", temperature=9))
    assert response.status_code == 422
    assert (await maghub.client.get("/models/m")).json() == before


async def test_invalid_json_and_oversize_bodies(maghub: RunningMaghub) -> None:
    client = maghub.client
    broken = await client.post("/models", content=b'{"name": "m",', headers={"content-type": "application/json"})
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["detail"]
    limit = maghub.settings.max_body_bytes
    huge = await client.post("/models", json=model_body("m", padding="x" * (limit + 10)))
    assert huge.status_code == 413 and "MAGHUB_MAX_BODY_BYTES" in huge.json()["detail"]

    async def chunks():  # no Content-Length: the limit must hold while streaming too
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    streamed = await client.post("/models", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert (await client.get("/models")).json() == []


async def test_concurrent_puts_never_lose_or_corrupt(maghub: RunningMaghub) -> None:
    client = maghub.client
    await client.post("/models", json=model_body("m"))
    temperatures = [round(i * 0.05, 2) for i in range(20)]
    responses = await asyncio.gather(
        *(
            client.put("/models/m", json=model_body("m", temperature=t, seed=i, api_key=""))
            for i, t in enumerate(temperatures)
        )
    )
    assert [r.status_code for r in responses] == [200] * 20
    final = (await client.get("/models/m")).json()["data"]
    # Last writer wins, but whole: temperature and seed come from the same request.
    assert temperatures[final["seed"]] == final["temperature"]
    assert (await maghub.runtime.models.get_config("m")).api_key == SECRET
    async with maghub.runtime.database.read() as session:
        revision = (await session.execute(text("SELECT revision FROM models WHERE name = 'm'"))).scalar_one()
    assert revision == 21


async def test_concurrent_renames_and_creates_have_one_winner(maghub: RunningMaghub) -> None:
    client = maghub.client
    await client.post("/models", json=model_body("a"))
    renames = await asyncio.gather(*(client.put("/models/a", json=model_body(f"a{i}", api_key="")) for i in range(5)))
    assert sorted(r.status_code for r in renames) == [200, 404, 404, 404, 404]
    creates = await asyncio.gather(*(client.post("/models", json=model_body("dup")) for _ in range(5)))
    assert sorted(r.status_code for r in creates) == [200, 400, 400, 400, 400]
    names = [m["name"] for m in (await client.get("/models")).json()]
    assert len(names) == 2 and "dup" in names


async def test_data_survives_restart(settings) -> None:
    async with running_maghub(settings) as first:
        await first.client.post("/models", json=model_body("keep/me", temperature=0.7))
    settings.port = 0
    async with running_maghub(settings) as second:
        data = (await second.client.get("/models/keep%2Fme")).json()["data"]
        assert data["temperature"] == 0.7
        assert (await second.runtime.models.get_config("keep/me")).api_key == SECRET


async def test_health_and_openapi(maghub: RunningMaghub) -> None:
    health = (await maghub.client.get("/health")).json()
    assert health["status"] == "healthy" and health["database"] in ("sqlite", "postgresql")
    # Under /api too, where clients configured with the /api base URL look (one handler, both paths).
    assert (await maghub.client.get("/api/health")).json() == health
    schema = (await maghub.client.get("/openapi.json")).json()
    assert schema["paths"]["/api/health"]["get"]["summary"] == schema["paths"]["/health"]["get"]["summary"]
    assert "/models/{model_name}" in schema["paths"] and "/api/models/{model_name}" in schema["paths"]
    assert (await maghub.client.get("/docs")).status_code == 200
    assert (await maghub.client.get("/nowhere")).json() == {"detail": "Not Found"}
