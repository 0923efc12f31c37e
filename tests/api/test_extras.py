"""The integration is optional: nothing imports FastAPI until asked, and its absence is explained.

Each case runs in a fresh interpreter; FastAPI's absence is simulated the way Python documents
(``sys.modules[name] = None`` makes ``import name`` raise ImportError).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import MutableMapping

import pytest
from click.testing import CliRunner

from ffmpeg_tasks.cli import main

from ._support import ROOT


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_importing_the_library_and_its_cli_does_not_import_fastapi() -> None:
    result = run_python(
        "import sys, ffmpeg_tasks, ffmpeg_tasks.cli, ffmpeg_tasks.integrations\n"
        "loaded = sorted(m for m in ('fastapi', 'starlette', 'uvicorn', 'pydantic') "
        "if m in sys.modules)\n"
        "print(loaded)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_missing_fastapi_raises_configuration_error_naming_the_extra() -> None:
    result = run_python(
        "import sys\n"
        "sys.modules['fastapi'] = None\n"
        "from ffmpeg_tasks import ConfigurationError\n"
        "try:\n"
        "    import ffmpeg_tasks.integrations.fastapi\n"
        "except ConfigurationError as exc:\n"
        "    print(exc)\n"
    )
    assert result.returncode == 0, result.stderr
    assert 'pip install "ffmpeg-tasks[fastapi]"' in result.stdout


def test_serve_without_uvicorn_says_what_to_install() -> None:
    result = run_python(
        "import sys\n"
        "sys.modules['uvicorn'] = None\n"
        "from ffmpeg_tasks.cli import main\n"
        "main(['serve', '--port', '0'])\n"
    )
    assert result.returncode == 1
    assert 'pip install "ffmpeg-tasks[fastapi]"' in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_is_a_cli_command_with_host_and_port() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "FFMPEG_TASKS_API_KEYS", "FFMPEG_TASKS_DATABASE"):
        assert option in result.output
    bad = CliRunner().invoke(main, ["serve", "--port", "70000"])
    assert bad.exit_code == 2
    assert "70000" in bad.output


@pytest.mark.parametrize(
    ("variable", "value"),
    [("FFMPEG_TASKS_API_KEYS", " , "), ("S3_BUCKET", "Not A Bucket!")],
)
def test_serve_stops_before_listening_when_a_variable_is_unusable(
    clean_env: MutableMapping[str, str], variable: str, value: str
) -> None:
    clean_env[variable] = value
    result = CliRunner().invoke(main, ["serve", "--port", "0"])
    assert result.exit_code == 1
    assert variable in result.output
    assert "Traceback" not in result.output


def test_without_opentelemetry_a_run_traces_nothing_and_works() -> None:
    result = run_python(
        "import sys\n"
        "sys.modules['opentelemetry'] = None\n"
        "import anyio\n"
        "from ffmpeg_tasks import TaskManager\n"
        "from ffmpeg_tasks.testing import FakeFetcher, FakeRunner, FakeUploader, MemoryStore\n"
        "async def main():\n"
        "    url = 'https://media.example/a.mp4'\n"
        "    async with TaskManager(MemoryStore(), FakeFetcher({url: b'A'}), FakeRunner(), "
        "FakeUploader()) as manager:\n"
        "        task = await manager.register('-i a.mp4 -c copy b.mp4', {'a.mp4': url}, 'b.mp4')\n"
        "        print((await manager.execute(task.id)).status, task.trace_context)\n"
        "anyio.run(main)\n"
        "print(sorted(m for m, module in sys.modules.items() "
        "if module and m.startswith(('opentelemetry', 'prometheus'))))\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["completed {}", "[]"]


def test_a_missing_prometheus_client_names_the_metrics_extra() -> None:
    result = run_python(
        "import sys\n"
        "sys.modules['prometheus_client'] = None\n"
        "from ffmpeg_tasks import ConfigurationError, TaskManager\n"
        "try:\n"
        "    TaskManager.from_env({'FFMPEG_TASKS_METRICS': '1'})\n"
        "except ConfigurationError as exc:\n"
        "    print(exc)\n"
    )
    assert result.returncode == 0, result.stderr
    assert 'pip install "ffmpeg-tasks[metrics]"' in result.stdout
