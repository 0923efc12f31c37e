"""Configuration of workers and of the manager's lease and retries from the environment."""

from __future__ import annotations

import pytest

from ffmpeg_tasks import ConfigurationError, TaskManager
from ffmpeg_tasks._config import adapters_from_env, settings_from_env
from ffmpeg_tasks.integrations.procrastinate import ProcrastinateDispatcher

DSN = "postgresql://tasks:pw-do-not-leak@db.internal:5432/media"


def test_procrastinate_workers_build_a_dispatcher_on_the_task_database() -> None:
    env = adapters_from_env({"FFMPEG_TASKS_DATABASE": DSN, "FFMPEG_TASKS_WORKERS": "procrastinate"})
    assert isinstance(env.dispatcher, ProcrastinateDispatcher)
    assert repr(env.dispatcher) == "ProcrastinateDispatcher('tasks@db.internal:5432/media')"
    assert "procrastinate" in env.details["workers"]
    manager = TaskManager.from_env(
        {"FFMPEG_TASKS_DATABASE": DSN, "FFMPEG_TASKS_WORKERS": "procrastinate"}
    )
    assert "dispatcher=ProcrastinateDispatcher(" in repr(manager)
    assert "pw-do-not-leak" not in repr(manager)


def test_in_process_is_the_default() -> None:
    assert adapters_from_env({}).dispatcher is None
    assert adapters_from_env({"FFMPEG_TASKS_WORKERS": "in-process"}).dispatcher is None
    assert "dispatcher" not in repr(TaskManager.from_env({}))


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"FFMPEG_TASKS_WORKERS": "celery"}, "FFMPEG_TASKS_WORKERS: 'celery' is not one of"),
        ({"FFMPEG_TASKS_WORKERS": "procrastinate"}, "set FFMPEG_TASKS_DATABASE to a PostgreSQL"),
        (
            {"FFMPEG_TASKS_WORKERS": "procrastinate", "FFMPEG_TASKS_DATABASE": "/tmp/t.db"},
            "set FFMPEG_TASKS_DATABASE to a PostgreSQL",
        ),
        ({"FFMPEG_TASKS_RETRIES": "-1"}, "FFMPEG_TASKS_RETRIES: '-1' is not a whole number"),
        ({"FFMPEG_TASKS_LEASE": "soon"}, "FFMPEG_TASKS_LEASE: 'soon' is not a number of seconds"),
        ({"FFMPEG_TASKS_LEASE": "2", "FFMPEG_TASKS_HEARTBEAT": "1.5"}, "at most half the lease"),
        ({"FFMPEG_TASKS_LEASE": "0"}, "lease must be a positive number"),
    ],
)
def test_bad_values_name_the_variable(variables: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        settings_from_env(variables)


def test_lease_retries_and_backoff_reach_the_manager() -> None:
    settings = settings_from_env(
        {
            "FFMPEG_TASKS_RETRIES": "2",
            "FFMPEG_TASKS_RETRY_BACKOFF": "0",
            "FFMPEG_TASKS_LEASE": "2",
            "FFMPEG_TASKS_HEARTBEAT": "0.5",
        }
    )
    assert settings.manager == {"retries": 2, "retry_backoff": 0.0, "lease": 2.0, "heartbeat": 0.5}
    # a lease alone gets a heartbeat of a third of it at most
    assert settings_from_env({"FFMPEG_TASKS_LEASE": "6"}).manager == {
        "lease": 6.0,
        "heartbeat": 2.0,
    }
    manager = TaskManager.from_env({"FFMPEG_TASKS_RETRIES": "2", "FFMPEG_TASKS_LEASE": "3"})
    assert manager._recovery._retries == 2
    assert manager._transitions.lease == 3.0
    # keyword arguments still win over the environment
    assert TaskManager.from_env({"FFMPEG_TASKS_RETRIES": "2"}, retries=0)._recovery._retries == 0
