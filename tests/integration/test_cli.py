"""The ``ffmpeg-tasks`` command, run in-process with click's runner on the real ffmpeg."""

from __future__ import annotations

import json
import shutil
from collections.abc import MutableMapping
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import pytest
from click.testing import CliRunner

from ffmpeg_tasks.cli import main
from ffmpeg_tasks.storage._postgres_schema import SCHEMA_VERSION
from tests.fixtures.media import DecodedDuration
from tests.fixtures.postgres import PostgresServer, in_schema


def path_of(url: str) -> Path:
    assert url.startswith("file://"), url
    return Path(url2pathname(urlsplit(url).path))


def test_demo_transcodes_a_generated_clip(
    tmp_path: Path, decoded_duration: DecodedDuration
) -> None:
    result = CliRunner().invoke(main, ["demo", "--dest", str(tmp_path), "--seconds", "1"])
    assert result.exit_code == 0, result.output
    output = path_of(result.stdout.strip())
    assert output.parent.parent == tmp_path
    assert output.name == "output.mp4"
    assert decoded_duration(output) == pytest.approx(1.0, abs=0.1)
    assert "completed" in result.stderr


def test_run_takes_a_local_path_and_prints_the_output_url(
    tmp_path: Path, media_dir: Path, decoded_duration: DecodedDuration
) -> None:
    source = tmp_path / "in" / "clip.mp4"
    source.parent.mkdir()
    shutil.copyfile(media_dir / "clip.mp4", source)
    result = CliRunner().invoke(
        main,
        [
            "run",
            "-i talk.mp4 -vn -c:a libmp3lame audio.mp3",
            "--input",
            f"talk.mp4={source}",
            "--output",
            "audio.mp3",
            "--dest",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 0, result.output
    output = path_of(result.stdout.strip())
    assert output.name == "audio.mp3"
    assert decoded_duration(output) == pytest.approx(2.0, abs=0.1)


def test_run_reports_a_failed_task_and_exits_non_zero(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    result = CliRunner().invoke(
        main,
        ["run", "-i in.mp4 out.mp4", "--input", f"in.mp4={broken}", "--output", "out.mp4",
         "--dest", str(tmp_path / "out")],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "failed" in result.stderr
    assert "Invalid data found when processing input" in result.stderr


def test_errors_print_as_ffmpeg_wrote_them_not_as_markup(tmp_path: Path, media_dir: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["run", "-i in.mp4 -map 0:v:5 -c copy out.mp4", "--input", f"in.mp4={media_dir / 'clip.mp4'}",
         "--output", "out.mp4", "--dest", str(tmp_path / "out")],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "0:v:5" in result.stderr  # not an emoji code, not a markup error


def test_run_refuses_a_bad_task_before_running_anything(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["run", "-i a.mp4 out.mp4", "--input", "b.mp4=https://example.com/b.mp4",
         "--output", "out.mp4", "--dest", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "'a.mp4' is used by the command but not declared in input_files" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_run_checks_its_options(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["run", "-i a.mp4 out.mp4", "--input", "a.mp4", "--output", "out.mp4"]
    )
    assert result.exit_code == 2
    assert "'a.mp4' is not NAME=URL" in result.stderr
    missing = CliRunner().invoke(
        main,
        ["run", "-i a.mp4 out.mp4", "--input", f"a.mp4={tmp_path / 'nope.mp4'}",
         "--output", "out.mp4"],
    )  # fmt: skip
    assert missing.exit_code == 2
    assert "is not a file" in missing.stderr


def test_health_json(ffmpeg_exe: Path) -> None:
    result = CliRunner().invoke(main, ["health", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["ffmpeg_path"] == str(ffmpeg_exe)
    assert report["ffmpeg_version"]


def test_db_migrate_makes_the_postgresql_tables_once(
    postgres: PostgresServer, clean_env: MutableMapping[str, str]
) -> None:
    dsn = in_schema(postgres.base, postgres.new_schema())
    clean_env["FFMPEG_TASKS_DATABASE"] = "postgresql://unused"  # --database wins
    for _ in range(2):
        result = CliRunner().invoke(main, ["db", "migrate", "--database", dsn])
        assert result.exit_code == 0, result.output
        assert f"schema version {SCHEMA_VERSION}, up to date" in result.stderr
    clean_env["FFMPEG_TASKS_DATABASE"] = in_schema(postgres.base, "no_such_schema")
    result = CliRunner().invoke(main, ["db", "migrate"])
    assert result.exit_code == 1
    assert "create the schema its search_path names" in result.stderr


def test_db_migrate_opens_a_sqlite_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["db", "migrate", "--database", str(tmp_path / "t.db")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "t.db").is_file()
    result = CliRunner().invoke(main, ["db", "migrate"], env={"FFMPEG_TASKS_DATABASE": ""})
    assert result.exit_code == 2
    assert "Missing option '--database'" in result.stderr
