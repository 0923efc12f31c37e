"""Property-based: schemathesis generates requests from the app's own OpenAPI schema.

Every operation gets valid and invalid requests; each answer must match the schema (status
code, body, content type) and none may be a 5xx; with keys on, schemathesis also checks that
leaving the key out is refused. The managers keep tasks in SQLite and run the in-memory fakes,
so each call is cheap.

schemathesis ends an app's lifespan after each test, and a TaskManager is not reusable once
closed, so each test calls a fresh app (``app=``); the module-level apps only serve the schema.
(The schemas are loaded at import, as schemathesis's pytest integration expects; its lazy
``from_fixture`` loader does not work with pytest 9.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings

from ffmpeg_tasks import TaskManager
from ffmpeg_tasks.integrations.fastapi import create_app
from ffmpeg_tasks.storage import SqliteStore
from ffmpeg_tasks.testing import FakeFetcher, FakeRunner, FakeUploader

from ._support import INPUT_URL

KEY = "schemathesis-key-5b0e2a7c91"
#: Schema-valid is not enough to be accepted: register checks the command against the policy
#: and the inputs against the fetcher, and answers 422 with the reason.
EXCLUDED = [schemathesis.checks.positive_data_acceptance]
EXAMPLES = settings(
    max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


def make_app(api_keys: Sequence[str]) -> FastAPI:
    manager = TaskManager(
        SqliteStore(":memory:"),
        FakeFetcher({INPUT_URL: b"video"}),
        FakeRunner(duration=0.01),
        FakeUploader(),
    )
    return create_app(manager, api_keys=api_keys)


open_api = schemathesis.openapi.from_asgi("/openapi.json", make_app([]))
keyed_api = schemathesis.openapi.from_asgi("/openapi.json", make_app([KEY]))


@pytest.fixture
def open_app() -> FastAPI:
    return make_app([])


@pytest.fixture
def keyed_app() -> FastAPI:
    return make_app([KEY])


@open_api.parametrize()
@EXAMPLES
def test_the_open_api_conforms_to_its_schema_and_never_answers_500(
    case: schemathesis.Case[Any], open_app: FastAPI
) -> None:
    case.call_and_validate(app=open_app, excluded_checks=EXCLUDED)


@keyed_api.parametrize()
@EXAMPLES
def test_the_keyed_api_conforms_to_its_schema_and_never_answers_500(
    case: schemathesis.Case[Any], keyed_app: FastAPI
) -> None:
    case.call_and_validate(app=keyed_app, headers={"X-API-Key": KEY}, excluded_checks=EXCLUDED)
