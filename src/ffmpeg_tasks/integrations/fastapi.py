"""The HTTP API of the original FFmpeg API service, on FastAPI: a router, or a whole app.

``pip install "ffmpeg-tasks[fastapi]"``. Two ways in:

- :func:`create_app` builds the service itself: the router, ``GET /health``, ``GET /metrics``
  (for a manager with Prometheus metrics, behind the same keys), and a lifespan that opens and
  closes the :class:`~ffmpeg_tasks.TaskManager`. ``ffmpeg-tasks serve`` runs it.
- :func:`create_router` gives the ``/ffmpeg/...`` endpoints alone, for an application of your
  own; open the manager in your app's lifespan::

      from contextlib import asynccontextmanager

      from fastapi import FastAPI

      from ffmpeg_tasks import TaskManager
      from ffmpeg_tasks.integrations.fastapi import create_router

      manager = TaskManager.from_env()


      @asynccontextmanager
      async def lifespan(app: FastAPI):
          async with manager:  # background runs (?wait=false) need the open manager
              yield


      app = FastAPI(lifespan=lifespan)
      app.include_router(create_router(manager))

Every error is ``{"detail": "..."}``: 401 missing or wrong API key, 404 unknown task (or another
key's task), 409 a task in the wrong state, 413 a body over the size cap, 422 an invalid request
or task (the message says what to fix), 503 a server that cannot run tasks. ffmpeg's raw output
(``Task.log``) and the task's owner are never returned.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the endpoints' annotations at
# runtime, and the ``Owner`` alias is local to ``create_router``.
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Annotated, Any

import anyio

from .. import __version__
from .._defaults import MAX_PAGE_SIZE
from .._errors import TaskNotFoundError
from .._manager import TaskManager
from .._models import Task, TaskStatus
from ._extras import missing_extra

try:
    from fastapi import APIRouter, Depends, FastAPI, Query, Response, Security
    from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
    from starlette.exceptions import HTTPException
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without fastapi
    raise missing_extra("fastapi", exc) from exc

from ._auth import ENV_VAR, HEADER, ApiKeys
from ._routing import DEFAULT_MAX_BODY_SIZE, route_class
from ._schemas import (
    ErrorResponse,
    FfmpegHealth,
    Liveness,
    RegisterRequest,
    TaskList,
    TaskResponse,
)

__all__ = ["create_app", "create_router"]

logger = logging.getLogger("ffmpeg_tasks")

#: Longest the app's shutdown waits for cancelled ``execute`` requests to store their tasks.
SHUTDOWN_DRAIN_SECONDS = 5.0
#: Largest ``offset`` of ``GET /ffmpeg/tasks`` (deeper pages make no sense, and SQL needs a bound).
MAX_OFFSET = 1_000_000_000

Caller = Callable[..., Awaitable[str | None]]
Responses = dict[int | str, dict[str, Any]]


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


_NOT_FOUND: Responses = {404: _error("No task has this id (or it belongs to another API key).")}
_INVALID: Responses = {
    422: _error("The request or the task is invalid; the detail says what to fix.")
}
_TOO_LARGE: Responses = {
    413: _error("The request body is over the size cap (64 KiB unless the server says otherwise).")
}
_UNAVAILABLE: Responses = {
    503: _error("The server cannot do this (e.g. its task manager is not open).")
}
_AUTH: Responses = {
    401: _error("Missing or wrong API key (send X-API-Key or Authorization: Bearer).")
}


def _caller(keys: ApiKeys) -> Caller:
    """The dependency that names the caller: its owner id, or None when the API is open."""
    if not keys.enabled:

        async def open_api() -> str | None:
            return None

        return open_api

    api_key = APIKeyHeader(
        name=HEADER, auto_error=False, scheme_name="ApiKey", description="An API key."
    )
    bearer = HTTPBearer(
        auto_error=False, scheme_name="Bearer", description="An API key as a bearer token."
    )

    async def keyed_api(
        header_key: Annotated[str | None, Security(api_key)],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> str | None:
        presented = header_key or (credentials.credentials if credentials else None)
        owner = keys.owner_of(presented)
        if owner is None:
            raise HTTPException(
                401,
                detail=f"missing or wrong API key: send it in the {HEADER} header "
                "or as 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": 'Bearer realm="ffmpeg-tasks"'},
            )
        return owner

    return keyed_api


def _keys(api_keys: Iterable[str] | None) -> ApiKeys:
    return ApiKeys.from_env() if api_keys is None else ApiKeys(api_keys)


def create_router(
    manager: TaskManager,
    *,
    prefix: str = "/ffmpeg",
    api_keys: Iterable[str] | None = None,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
) -> APIRouter:
    """The ``/ffmpeg/...`` endpoints over ``manager``, to include in any FastAPI app.

    The router does not open the manager: do it in your app's lifespan (``async with
    manager``), or ``?wait=false`` answers 503. Errors are answered by the router's own route
    class, so your app's exception handlers do not change them.

    Args:
        manager: Runs the tasks. Its command policy and fetcher decide what is accepted.
        prefix: Where the endpoints live.
        api_keys: Keys callers must send (``X-API-Key`` or ``Authorization: Bearer``); each
            caller sees only its own tasks. None reads ``FFMPEG_TASKS_API_KEYS``; an empty
            list leaves the API open.
        max_body_size: Largest request body in bytes; bigger ones get 413.

    Returns:
        An ``APIRouter`` for ``app.include_router(...)``.

    Raises:
        ConfigurationError: an unusable key or size; the message says which.
    """
    return _router(manager, prefix=prefix, keys=_keys(api_keys), max_body_size=max_body_size)


class _Waiting:
    """Counts the requests running a task in ``execute``, so shutdown can let them finish."""

    def __init__(self) -> None:
        self.count = 0
        self._idle: anyio.Event | None = None

    @contextmanager
    def one(self) -> Iterator[None]:
        if self.count == 0:
            self._idle = anyio.Event()
        self.count += 1
        try:
            yield
        finally:
            self.count -= 1
            if self.count == 0 and self._idle is not None:
                self._idle.set()

    async def drained(self, timeout: float) -> None:
        """Return once none is left, or after ``timeout`` seconds.

        The server cancels such requests before the lifespan's shutdown; each then stores its
        task's final state (``cancelled``), which needs the manager still open.
        """
        if self.count and self._idle is not None:
            with anyio.move_on_after(timeout):
                await self._idle.wait()


def _router(
    manager: TaskManager,
    *,
    prefix: str,
    keys: ApiKeys,
    max_body_size: int,
    waiting: _Waiting | None = None,
) -> APIRouter:
    waiting = _Waiting() if waiting is None else waiting
    Owner = Annotated[str | None, Depends(_caller(keys))]
    router = APIRouter(
        prefix=prefix,
        tags=["ffmpeg"],
        route_class=route_class(max_body_size),
        responses={**_TOO_LARGE, **(_AUTH if keys.enabled else {})},
    )

    async def visible(task_id: str, owner: str | None) -> Task:
        """The task, if this caller may see it; another key's task is 'not found' too."""
        task = await manager.get(task_id)
        if keys.enabled and task.owner != owner:
            raise TaskNotFoundError(task_id)
        return task

    async def answer(task: Task) -> TaskResponse:
        """The task with the deliveries to its own webhook_url."""
        if task.webhook_url is None:
            return TaskResponse.from_task(task, ())
        return TaskResponse.from_task(task, await manager.deliveries(task.id))

    @router.post(
        "/register",
        summary="Register a task",
        responses={**_INVALID, **_UNAVAILABLE},
    )
    async def register(body: RegisterRequest, owner: Owner) -> TaskResponse:
        """Check a task (command policy, input URLs) and store it as ``pending``.

        Nothing is downloaded or run until ``POST /ffmpeg/execute/{task_id}``.
        """
        task = await manager.register(
            body.command,
            body.input_files,
            body.output_filename,
            outputs=body.outputs,
            expect=None if body.expect is None else [e.checks() for e in body.expect],
            timeout=body.timeout,
            owner=owner,
            queue=body.queue,
            priority=body.priority,
            webhook_url=body.webhook_url,
        )
        return TaskResponse.from_task(task, ())

    @router.post(
        "/execute/{task_id}",
        summary="Run a task",
        responses={
            202: {"model": TaskResponse, "description": "Started in the background (?wait=false)."},
            **_NOT_FOUND,
            409: _error("The task is not pending: it ran, runs, or was started already."),
            **_INVALID,
            **_UNAVAILABLE,
        },
    )
    async def execute(
        task_id: str,
        owner: Owner,
        response: Response,
        wait: Annotated[
            bool, Query(description="false: start in the background and answer 202 at once.")
        ] = True,
    ) -> TaskResponse:
        """Fetch the inputs, run ffmpeg, store the output; answer with the final state.

        A task that fails is still a 200 answer, with ``status: "failed"`` and ``error``.
        """
        await visible(task_id, owner)
        if wait:
            with waiting.one():
                return await answer(await manager.execute(task_id))
        await manager.start(task_id)
        response.status_code = 202
        return await answer(await manager.get(task_id))

    @router.get("/status/{task_id}", summary="A task's state", responses={**_NOT_FOUND, **_INVALID})
    async def status(task_id: str, owner: Owner) -> TaskResponse:
        """Status, phase and progress; the output URL once completed, the error once failed."""
        return await answer(await visible(task_id, owner))

    @router.post(
        "/cancel/{task_id}",
        summary="Cancel a task",
        responses={
            **_NOT_FOUND,
            409: _error("The task has ended already."),
            **_INVALID,
        },
    )
    async def cancel(task_id: str, owner: Owner) -> TaskResponse:
        """Stop a pending or running task; it ends ``cancelled``. Answers its final state."""
        await visible(task_id, owner)
        return await answer(await manager.cancel(task_id))

    @router.get("/tasks", summary="List tasks", responses={**_INVALID})
    async def tasks(
        owner: Owner,
        status: Annotated[TaskStatus | None, Query(description="Only tasks in this state.")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> TaskList:
        """Tasks newest first, one page at a time (only the caller's own when keys are on)."""
        found = await manager.list(status, limit, offset=offset, owner=owner)
        return TaskList(
            tasks=[await answer(task) for task in found],
            limit=limit,
            offset=offset,
            next_offset=offset + len(found) if len(found) == limit else None,
        )

    @router.post(
        "/tasks/{task_id}/webhooks/redeliver",
        summary="Send a task's webhooks again",
        responses={**_NOT_FOUND, **_INVALID},
    )
    async def redeliver(task_id: str, owner: Owner) -> TaskResponse:
        """Queue every event of the task again (delivered or not), each with the
        ``webhook-id`` it had, so receivers can tell a replay; answers the task with the
        queued deliveries."""
        task = await visible(task_id, owner)
        await manager.redeliver(task_id)
        return await answer(task)

    @router.get(
        "/health",
        summary="Can tasks run here?",
        responses={503: {"model": FfmpegHealth, "description": "ffmpeg is not usable."}},
    )
    async def health(owner: Owner, response: Response) -> FfmpegHealth:
        """ffmpeg's path and version, the sandbox, warnings for the operator and the auth mode."""
        report = FfmpegHealth.from_health(await manager.health(), auth=keys.mode)
        if report.status != "ok":
            response.status_code = 503
        return report

    return router


def create_app(
    manager: TaskManager | None = None,
    *,
    api_keys: Iterable[str] | None = None,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
) -> FastAPI:
    """The FFmpeg API service: the router at ``/ffmpeg``, ``GET /health``, and a lifespan.

    The app's lifespan opens the manager (``async with``) at startup and closes it at
    shutdown, cancelling runs still going; so give a manager that is not open yet, and let
    one app own it.

    Args:
        manager: Runs the tasks; None builds one with :meth:`TaskManager.from_env` (the original
            service's variables, and ``FFMPEG_TASKS_DATABASE`` for a SQLite store).
        api_keys: As in :func:`create_router`; None reads ``FFMPEG_TASKS_API_KEYS``.
        max_body_size: Largest request body in bytes; bigger ones get 413.

    Returns:
        The app, ready for any ASGI server (``uvicorn module:app``); the manager is also at
        ``app.state.task_manager``.

    Raises:
        ConfigurationError: an unusable environment variable, key or size.
    """
    keys = _keys(api_keys)
    manager = TaskManager.from_env() if manager is None else manager

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not keys.enabled:
            logger.warning(
                "the HTTP API is open to anyone who can reach it: set %s to require API keys",
                ENV_VAR,
            )
        async with manager:
            yield
            await waiting.drained(SHUTDOWN_DRAIN_SECONDS)

    app = FastAPI(
        title="FFmpeg API",
        version=__version__,
        description="Register ffmpeg tasks, run them and poll their status (ffmpeg-tasks).",
        lifespan=lifespan,
    )
    app.state.task_manager = manager
    waiting = _Waiting()
    app.include_router(
        _router(manager, prefix="/ffmpeg", keys=keys, max_body_size=max_body_size, waiting=waiting)
    )

    @app.get("/health", summary="Liveness", tags=["health"])
    async def liveness() -> Liveness:
        """``{"status": "ok"}`` while the process answers; no key needed."""
        return Liveness(status="ok")

    if manager.metrics is not None:
        _add_metrics(app, manager, keys)
    return app


def _add_metrics(app: FastAPI, manager: TaskManager, keys: ApiKeys) -> None:
    """``GET /metrics`` behind the API keys, for a manager measuring with Prometheus."""
    from .prometheus import PrometheusMetrics, render_metrics

    if not isinstance(manager.metrics, PrometheusMetrics):
        return
    Caller = Annotated[str | None, Depends(_caller(keys))]

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        tags=["metrics"],
        response_class=Response,
        responses={
            200: {"content": {"text/plain": {}}, "description": "The text exposition format."},
            **(_AUTH if keys.enabled else {}),
        },
    )
    async def metrics(caller: Caller) -> Response:
        """Every ``ffmpeg_tasks_*`` metric; the task counts are read from the store now."""
        body, content_type = await render_metrics(manager)
        return Response(body, media_type=content_type)
