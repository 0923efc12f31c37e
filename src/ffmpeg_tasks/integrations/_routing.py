"""The route class of the FastAPI router: body size cap and one JSON error shape.

Both live in the route class rather than in app-level middleware and exception handlers, so the
router behaves the same inside someone else's FastAPI app: FastAPI lets a router bring its own
route class, not its own exception handlers.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, ClassVar

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import Message, Receive

from .._errors import (
    ConfigurationError,
    InvalidTaskError,
    InvalidTransitionError,
    TaskNotFoundError,
)

__all__ = ["DEFAULT_MAX_BODY_SIZE", "TasksRoute", "error_response", "route_class"]

#: Largest request body accepted, in bytes: a task is a few hundred bytes of JSON.
DEFAULT_MAX_BODY_SIZE = 64 * 1024
#: How many validation problems one 422 lists.
_MAX_PROBLEMS = 5
#: Causes of FastAPI's 400 "error parsing the body", answered as the 422 of any other bad JSON.
_UNREADABLE = (UnicodeDecodeError, RecursionError)

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def error_response(
    status_code: int, detail: Any, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """``{"detail": ...}`` with ``status_code``: the API's only error shape."""
    return JSONResponse({"detail": detail}, status_code=status_code, headers=headers)


def _too_large(limit: int) -> str:
    return f"request body is larger than {limit} bytes; a task needs far less, send at most that"


def _limited(receive: Receive, limit: int) -> Receive:
    """``receive`` that fails with 413 once the body grows past ``limit`` bytes."""
    received = 0

    async def limited_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise HTTPException(413, detail=_too_large(limit))
        return message

    return limited_receive


def describe_validation(errors: Sequence[Any]) -> str:
    """One line naming each invalid part of a request (never echoing the values sent)."""
    problems = []
    for error in errors[:_MAX_PROBLEMS]:
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "")
            problems.append(f"the request body is not valid JSON ({reason})")
            continue
        where = ".".join(str(part) for part in error.get("loc", ())) or "request"
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    if len(errors) > _MAX_PROBLEMS:
        problems.append(f"and {len(errors) - _MAX_PROBLEMS} more")
    return "invalid request: " + "; ".join(problems)


class TasksRoute(APIRoute):
    """An ``APIRoute`` that caps the body and answers every error as ``{"detail": "..."}``.

    Library errors become status codes here: TaskNotFoundError 404, InvalidTransitionError 409,
    InvalidTaskError 422, ConfigurationError 503. Anything else propagates to the app (500).
    """

    #: Largest request body in bytes; :func:`route_class` makes subclasses with other limits.
    max_request_body: ClassVar[int] = DEFAULT_MAX_BODY_SIZE

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        limit = self.max_request_body

        async def handle(request: Request) -> Response:
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                return error_response(413, _too_large(limit))
            try:
                return await handler(Request(request.scope, _limited(request.receive, limit)))
            except HTTPException as exc:
                if exc.status_code == 400 and isinstance(exc.__cause__, _UNREADABLE):
                    # FastAPI's "error parsing the body": not UTF-8, or nested too deep.
                    return error_response(422, "invalid request: the request body is not JSON")
                return error_response(exc.status_code, exc.detail, exc.headers)
            except RequestValidationError as exc:
                return error_response(422, describe_validation(exc.errors()))
            except TaskNotFoundError as exc:
                return error_response(404, str(exc))
            except InvalidTransitionError as exc:
                return error_response(409, str(exc))
            except InvalidTaskError as exc:
                return error_response(422, str(exc))
            except ConfigurationError as exc:
                return error_response(503, f"the server is not set up to do this: {exc}")

        return handle


def route_class(max_body_size: int) -> type[TasksRoute]:
    """A :class:`TasksRoute` subclass accepting bodies of at most ``max_body_size`` bytes.

    Raises:
        ConfigurationError: ``max_body_size`` is not a positive integer.
    """
    if isinstance(max_body_size, bool) or not isinstance(max_body_size, int) or max_body_size < 1:
        raise ConfigurationError(
            f"max_body_size must be a positive number of bytes, got {max_body_size!r}"
        )
    if max_body_size == DEFAULT_MAX_BODY_SIZE:
        return TasksRoute
    return type("TasksRoute", (TasksRoute,), {"max_request_body": max_body_size})
