"""API keys: open mode, both headers, 401s, per-key visibility, keys never echoed."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, MutableMapping

import httpx
import pytest

from ffmpeg_tasks import ConfigurationError, TaskManager
from ffmpeg_tasks.integrations._auth import ApiKeys, owner_id
from ffmpeg_tasks.integrations.fastapi import create_app

from ._support import TASK_BODY, asgi_client, fake_manager

pytestmark = pytest.mark.anyio

ALICE = "alice-key-0123456789abcdef"
BOB = "bob-key-fedcba9876543210"
AS_ALICE = {"X-API-Key": ALICE}
AS_BOB = {"Authorization": f"Bearer {BOB}"}


@pytest.fixture
def manager() -> TaskManager:
    return fake_manager()


@pytest.fixture
async def client(manager: TaskManager) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(create_app(manager, api_keys=[ALICE, BOB])) as client:
        yield client


async def register(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    response = await client.post("/ffmpeg/register", json=TASK_BODY, headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["task_id"])


async def test_without_keys_the_api_is_open_and_health_says_so() -> None:
    async with asgi_client(create_app(fake_manager(), api_keys=[])) as client:
        task_id = await register(client, {})
        assert (await client.get(f"/ffmpeg/status/{task_id}")).status_code == 200
        health = (await client.get("/ffmpeg/health")).json()
    assert health["auth"] == "none"


async def test_a_key_works_in_either_header(client: httpx.AsyncClient) -> None:
    by_header = await register(client, AS_ALICE)
    by_bearer = await register(client, {"Authorization": f"bearer {ALICE}"})
    for task_id in (by_header, by_bearer):
        for headers in (AS_ALICE, {"Authorization": f"Bearer {ALICE}"}):
            response = await client.get(f"/ffmpeg/status/{task_id}", headers=headers)
            assert response.status_code == 200
    health = await client.get("/ffmpeg/health", headers=AS_BOB)
    assert health.json()["auth"] == "api-key"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": "not-a-key"},
        {"X-API-Key": ALICE[:-1]},
        {"X-API-Key": ALICE + "x"},
        {"Authorization": f"Basic {ALICE}"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer wrong"},
    ],
)
async def test_a_missing_or_wrong_key_is_401(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for method, path in [
        ("POST", "/ffmpeg/register"),
        ("GET", "/ffmpeg/status/whatever"),
        ("POST", "/ffmpeg/execute/whatever"),
        ("POST", "/ffmpeg/cancel/whatever"),
        ("GET", "/ffmpeg/tasks"),
        ("GET", "/ffmpeg/health"),
    ]:
        response = await client.request(method, path, json=TASK_BODY, headers=headers)
        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert set(response.json()) == {"detail"}
        assert "X-API-Key" in response.json()["detail"]
        assert ALICE not in response.text


async def test_liveness_needs_no_key(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_another_keys_task_is_not_found(client: httpx.AsyncClient) -> None:
    task_id = await register(client, AS_ALICE)
    for method, path in [
        ("GET", f"/ffmpeg/status/{task_id}"),
        ("POST", f"/ffmpeg/execute/{task_id}"),
        ("POST", f"/ffmpeg/cancel/{task_id}"),
    ]:
        response = await client.request(method, path, headers=AS_BOB)
        assert response.status_code == 404, (method, path)
        assert response.json() == {"detail": f"no task with id {task_id!r}"}
    mine = await client.get(f"/ffmpeg/status/{task_id}", headers=AS_ALICE)
    assert mine.json()["status"] == "pending", "bob's attempts changed nothing"


async def test_each_key_lists_only_its_own_tasks(client: httpx.AsyncClient) -> None:
    alices = {await register(client, AS_ALICE) for _ in range(2)}
    bobs = {await register(client, AS_BOB)}
    listed_a = (await client.get("/ffmpeg/tasks", headers=AS_ALICE)).json()["tasks"]
    listed_b = (await client.get("/ffmpeg/tasks", headers=AS_BOB)).json()["tasks"]
    assert {t["task_id"] for t in listed_a} == alices
    assert {t["task_id"] for t in listed_b} == bobs


async def test_tasks_store_an_owner_id_derived_from_the_key_never_the_key(
    client: httpx.AsyncClient, manager: TaskManager
) -> None:
    task_id = await register(client, AS_ALICE)
    stored = await manager.get(task_id)
    assert stored.owner == hashlib.sha256(ALICE.encode()).hexdigest()[:16]
    assert stored.owner == owner_id(ALICE)
    assert ALICE not in repr(stored)
    answer = (await client.get(f"/ffmpeg/status/{task_id}", headers=AS_ALICE)).json()
    assert "owner" not in answer


async def test_keys_come_from_the_environment(clean_env: MutableMapping[str, str]) -> None:
    clean_env["FFMPEG_TASKS_API_KEYS"] = f" {ALICE} ,, {BOB},"
    async with asgi_client(create_app(fake_manager())) as client:
        assert (await client.get("/ffmpeg/tasks")).status_code == 401
        assert (await client.get("/ffmpeg/tasks", headers=AS_ALICE)).status_code == 200
        assert (await client.get("/ffmpeg/tasks", headers=AS_BOB)).status_code == 200


async def test_keys_never_appear_in_the_openapi_schema(client: httpx.AsyncClient) -> None:
    schema = await client.get("/openapi.json")
    assert ALICE not in schema.text
    assert BOB not in schema.text
    schemes = schema.json()["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "An API key.",
    }
    assert schemes["Bearer"]["scheme"] == "bearer"
    register_op = schema.json()["paths"]["/ffmpeg/register"]["post"]
    assert "401" in register_op["responses"]


def test_api_keys_refuse_bad_configuration(clean_env: MutableMapping[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="not one string"):
        ApiKeys(ALICE)
    with pytest.raises(ConfigurationError, match="API key #2 has characters") as bad:
        ApiKeys([ALICE, "has space"])
    assert "has space" not in str(bad.value)
    with pytest.raises(ConfigurationError, match="#1 is empty"):
        ApiKeys([""])
    clean_env["FFMPEG_TASKS_API_KEYS"] = " , ,"
    with pytest.raises(ConfigurationError, match="FFMPEG_TASKS_API_KEYS holds no key"):
        ApiKeys.from_env()
    clean_env["FFMPEG_TASKS_API_KEYS"] = f"{ALICE},é-key"
    with pytest.raises(ConfigurationError, match="FFMPEG_TASKS_API_KEYS: API key #2") as env:
        create_app(fake_manager())
    assert ALICE not in str(env.value)
    clean_env["FFMPEG_TASKS_API_KEYS"] = ""
    assert not ApiKeys.from_env().enabled


def test_api_keys_match_exactly_and_never_show_the_keys() -> None:
    keys = ApiKeys([ALICE, BOB])
    assert keys.owner_of(ALICE) == owner_id(ALICE)
    assert keys.owner_of(BOB) == owner_id(BOB)
    assert owner_id(ALICE) != owner_id(BOB)
    assert keys.owner_of(None) is None
    assert keys.owner_of(ALICE.upper()) is None
    assert keys.owner_of("") is None
    assert repr(keys) == "ApiKeys(2 keys)"
