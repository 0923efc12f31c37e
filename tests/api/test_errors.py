"""Errors: the right status, one JSON shape (``{"detail": "..."}``), never a 500 for bad input."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse

from ffmpeg_tasks import TaskManager
from ffmpeg_tasks.fetchers import HttpFetcher
from ffmpeg_tasks.integrations.fastapi import create_app, create_router
from ffmpeg_tasks.testing import FakeRunner, FakeUploader, MemoryStore

from ._support import TASK_BODY, asgi_client, fake_manager

pytestmark = pytest.mark.anyio


def detail_of(response: httpx.Response) -> str:
    """The detail of an error answer, checking the shape on the way."""
    body = response.json()
    assert set(body) == {"detail"}, body
    assert isinstance(body["detail"], str)
    assert response.headers["content-type"] == "application/json"
    return body["detail"]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(create_app(fake_manager(), api_keys=[])) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/ffmpeg/status/no-such-task"),
        ("POST", "/ffmpeg/execute/no-such-task"),
        ("POST", "/ffmpeg/cancel/no-such-task"),
    ],
)
async def test_unknown_task_is_404(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path)
    assert response.status_code == 404
    assert detail_of(response) == "no task with id 'no-such-task'"


async def test_a_huge_unknown_id_is_not_echoed_whole(client: httpx.AsyncClient) -> None:
    response = await client.get("/ffmpeg/status/" + "x" * 5000)
    assert response.status_code == 404
    assert detail_of(response) == f"no task with id '{'x' * 100}…'"


async def test_executing_twice_is_409(client: httpx.AsyncClient) -> None:
    task_id = (await client.post("/ffmpeg/register", json=TASK_BODY)).json()["task_id"]
    assert (await client.post(f"/ffmpeg/execute/{task_id}")).status_code == 200
    again = await client.post(f"/ffmpeg/execute/{task_id}")
    assert again.status_code == 409
    assert "is completed; only a pending task can be executed" in detail_of(again)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"command": "-i other.mp4 out.mp4"},
            "input 'other.mp4' is used by the command but not declared in input_files",
        ),
        ({"command": "ffmpeg"}, "command is empty"),
        ({"command": "-i in.mp4 'out.mp4"}, "command cannot be parsed"),
        ({"output_filename": "../out.mp4"}, "must be a plain file name"),
        ({"input_files": {"in.mp4": "ftp://example.com/in.mp4"}}, "must use http or https"),
    ],
)
async def test_an_invalid_task_is_422_with_what_to_fix(
    client: httpx.AsyncClient, change: dict[str, Any], message: str
) -> None:
    response = await client.post("/ffmpeg/register", json={**TASK_BODY, **change})
    assert response.status_code == 422
    assert message in detail_of(response)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "the request body is not valid JSON"),
        (b"", "body: Field required"),
        (b"[]", "Input should be a valid dictionary"),
        (b'"a string"', "Input should be a valid dictionary"),
        (json.dumps({**TASK_BODY, "command": 42}).encode(), "body.command: Input should be a valid string"),
        (json.dumps({**TASK_BODY, "input_files": ["in.mp4"]}).encode(), "body.input_files"),
        (json.dumps({**TASK_BODY, "input_files": {"in.mp4": 1}}).encode(), "body.input_files.in.mp4"),
        (json.dumps({"command": "-i in.mp4 out.mp4"}).encode(), "body.input_files: Field required"),
        (json.dumps({**TASK_BODY, "timeout": -1}).encode(), "body.timeout: Input should be greater than 0"),
        (json.dumps({**TASK_BODY, "timeout": "soon"}).encode(), "body.timeout"),
        (b'{"command": "\xff\xfe"}', "the request body is not JSON"),
        (b"[" * 20_000 + b"]" * 20_000, "the request body is not"),
    ],
)  # fmt: skip
async def test_malformed_requests_are_422_never_500(
    client: httpx.AsyncClient, body: bytes, message: str
) -> None:
    response = await client.post(
        "/ffmpeg/register", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    detail = detail_of(response)
    assert detail.startswith("invalid request: ")
    assert message in detail


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "many"}, "query.limit: Input should be a valid integer"),
        ({"limit": 0}, "query.limit"),
        ({"limit": 1001}, "query.limit"),
        ({"offset": -1}, "query.offset"),
        ({"offset": 10**30}, "query.offset"),
        ({"status": "done"}, "query.status: Input should be 'pending', 'running'"),
    ],
)
async def test_bad_list_parameters_are_422(
    client: httpx.AsyncClient, params: dict[str, Any], message: str
) -> None:
    response = await client.get("/ffmpeg/tasks", params=params)
    assert response.status_code == 422
    assert message in detail_of(response)


async def test_wait_must_be_a_boolean(client: httpx.AsyncClient) -> None:
    task_id = (await client.post("/ffmpeg/register", json=TASK_BODY)).json()["task_id"]
    response = await client.post(f"/ffmpeg/execute/{task_id}", params={"wait": "maybe"})
    assert response.status_code == 422
    assert "query.wait" in detail_of(response)


async def test_an_oversized_body_is_413_by_its_declared_length(client: httpx.AsyncClient) -> None:
    body = {**TASK_BODY, "command": "-i in.mp4 " + "x" * 70_000 + " out.mp4"}
    response = await client.post("/ffmpeg/register", json=body)
    assert response.status_code == 413
    assert "larger than 65536 bytes" in detail_of(response)


class Chunks(httpx.AsyncByteStream):
    """A chunked body of ``count`` chunks, counting how many were read.

    A class, not an async generator: a body left half-read must not leave a generator for the
    garbage collector to finalise (trio reports those).
    """

    def __init__(self, count: int, size: int = 8192) -> None:
        self.remaining = count
        self.sent = 0
        self.size = size

    def __aiter__(self) -> Chunks:
        return self

    async def __anext__(self) -> bytes:
        if self.remaining == 0:
            raise StopAsyncIteration
        self.remaining -= 1
        self.sent += 1
        return b" " * self.size


async def test_an_oversized_chunked_body_is_413_while_it_streams(
    client: httpx.AsyncClient,
) -> None:
    body = Chunks(1000)  # 8 MB if it were all read
    request = httpx.Request(
        "POST",
        client.base_url.join("/ffmpeg/register"),
        headers={"content-type": "application/json", "transfer-encoding": "chunked"},
        stream=body,
    )
    assert "content-length" not in request.headers
    response = await client.send(request)
    assert response.status_code == 413
    assert "larger than 65536 bytes" in detail_of(response)
    assert body.sent < 20, "the body was read past the cap"


async def test_the_size_cap_is_configurable() -> None:
    app = create_app(fake_manager(), api_keys=[], max_body_size=100)
    async with asgi_client(app) as client:
        response = await client.post("/ffmpeg/register", json=TASK_BODY | {"command": "x" * 100})
    assert response.status_code == 413
    assert "larger than 100 bytes" in detail_of(response)


async def test_the_host_apps_error_handlers_do_not_change_the_routers_errors() -> None:
    app = FastAPI()

    @app.exception_handler(RequestValidationError)
    async def host_validation(request: Request, exc: RequestValidationError) -> PlainTextResponse:
        return PlainTextResponse("host says no", status_code=400)

    app.include_router(create_router(fake_manager(), api_keys=[]))
    async with asgi_client(app) as client:
        malformed = await client.post(
            "/ffmpeg/register", content=b"{", headers={"content-type": "application/json"}
        )
        missing = await client.get("/ffmpeg/status/nope")
    assert malformed.status_code == 422
    assert "not valid JSON" in detail_of(malformed)
    assert missing.status_code == 404
    assert detail_of(missing) == "no task with id 'nope'"


async def test_the_openapi_schema_describes_every_error_status(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    operations = {
        (method.upper(), path): operation
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    }
    expected = {
        ("POST", "/ffmpeg/register"): {"200", "413", "422", "503"},
        ("POST", "/ffmpeg/execute/{task_id}"): {"200", "202", "404", "409", "413", "422", "503"},
        ("GET", "/ffmpeg/status/{task_id}"): {"200", "404", "413", "422"},
        ("POST", "/ffmpeg/cancel/{task_id}"): {"200", "404", "409", "413", "422"},
        ("GET", "/ffmpeg/tasks"): {"200", "413", "422"},
        ("POST", "/ffmpeg/tasks/{task_id}/webhooks/redeliver"): {"200", "404", "413", "422"},
        ("GET", "/ffmpeg/health"): {"200", "413", "503"},
        ("GET", "/health"): {"200"},
    }
    assert {key: set(op["responses"]) for key, op in operations.items()} == expected
    error_ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for key, operation in operations.items():
        for code, response in operation["responses"].items():
            if code in {"404", "409", "413", "422"} or (code == "503" and "health" not in key[1]):
                assert response["content"]["application/json"]["schema"] == error_ref, key
    task_schema = schema["components"]["schemas"]["TaskResponse"]["properties"]
    assert "log" not in task_schema
    assert "owner" not in task_schema


async def test_inputs_on_private_networks_are_refused_with_the_reason() -> None:
    manager = TaskManager(MemoryStore(), HttpFetcher(), FakeRunner(), FakeUploader())
    body = {**TASK_BODY, "input_files": {"in.mp4": "http://127.0.0.1:8080/in.mp4"}}
    async with asgi_client(create_app(manager, api_keys=[])) as client:
        response = await client.post("/ffmpeg/register", json=body)
    assert response.status_code == 422
    assert "loopback address" in detail_of(response)
