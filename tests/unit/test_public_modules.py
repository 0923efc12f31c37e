"""Every public module lists all its public names in ``__all__``, and the blocking facade
mirrors the async manager, method for method and parameter for parameter."""

from __future__ import annotations

import importlib
import inspect
from types import ModuleType

import pytest

import ffmpeg_tasks
from ffmpeg_tasks import SyncTaskManager, TaskManager

PUBLIC_MODULES = [
    "ffmpeg_tasks",
    "ffmpeg_tasks.cli",
    "ffmpeg_tasks.fetchers",
    "ffmpeg_tasks.integrations",
    "ffmpeg_tasks.integrations.fastapi",
    "ffmpeg_tasks.integrations.procrastinate",
    "ffmpeg_tasks.integrations.prometheus",
    "ffmpeg_tasks.runners",
    "ffmpeg_tasks.storage",
    "ffmpeg_tasks.testing",
    "ffmpeg_tasks.uploaders",
]
#: Async manager methods whose blocking twin has another name.
RENAMED = {"aclose": "close"}
#: Parameters only the blocking twin has.
EXTRA_PARAMETERS = {"from_env": {"backend"}}


def _ours(module: ModuleType, value: object) -> bool:
    """A class or function defined in ``module`` or below it (not one it imports)."""
    if not (inspect.isclass(value) or inspect.isfunction(value)):
        return False
    defined_in = str(getattr(value, "__module__", ""))
    return defined_in == module.__name__ or defined_in.startswith(module.__name__ + ".")


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_lists_every_public_name(name: str) -> None:
    module = importlib.import_module(name)
    exported = set(module.__all__)
    assert module.__all__ == sorted(module.__all__)
    for item in module.__all__:
        assert hasattr(module, item), f"{name}.__all__ names {item!r}, which does not exist"
    public = {
        item
        for item, value in vars(module).items()
        if not item.startswith("_") and _ours(module, value)
    }
    assert public <= exported, f"{name} defines {sorted(public - exported)} outside __all__"


def test_public_names_belong_to_the_package() -> None:
    for item in ffmpeg_tasks.__all__:
        value = getattr(ffmpeg_tasks, item)
        if inspect.isclass(value):
            assert value.__module__ == "ffmpeg_tasks", item
    assert ffmpeg_tasks.__version__[:1].isdigit()


def _public_methods(cls: type) -> dict[str, object]:
    return {name: value for name, value in vars(cls).items() if not name.startswith("_")}


def test_the_blocking_facade_has_every_method() -> None:
    ours = _public_methods(SyncTaskManager)
    for name in _public_methods(TaskManager):
        assert RENAMED.get(name, name) in ours, f"SyncTaskManager has no {name}()"


@pytest.mark.parametrize(
    "name",
    sorted(
        name
        for name, value in _public_methods(TaskManager).items()
        if not isinstance(value, property)
    ),
)
def test_the_blocking_facade_takes_the_same_arguments(name: str) -> None:
    wanted = inspect.signature(getattr(TaskManager, name)).parameters
    given = inspect.signature(getattr(SyncTaskManager, RENAMED.get(name, name))).parameters
    extra = EXTRA_PARAMETERS.get(name, set())
    assert [p for p in given.values() if p.name not in extra] == list(wanted.values())
