"""How tasks look to a person: a short ``repr``, an HTML table in Jupyter, a rich table in a
terminal, for one task and for a list of them.

What a task holds may come from a stranger (its command, input URLs, the error that quotes
ffmpeg), so every value is escaped in HTML and handed to rich as plain text, never as markup.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ._models import Output, Task, TaskStatus

if TYPE_CHECKING:
    from rich.table import Table

__all__ = [
    "TaskList",
    "first_line",
    "overall_of",
    "seconds_text",
    "speed_text",
    "task_html",
    "task_repr",
    "task_rich",
    "tasks_html",
    "tasks_rich",
]

#: Characters of an error the one-line views keep.
_SHORT_ERROR = 100
#: The columns of a list of tasks.
_COLUMNS = ("id", "status", "progress", "speed", "ETA", "output", "error")


class TaskList(list[Task]):
    """The tasks :meth:`TaskManager.list` returns: a plain list that Jupyter shows as a table
    (and rich as one in a terminal)."""

    def _repr_html_(self) -> str:
        return tasks_html(self)

    def __rich__(self) -> Table:
        return tasks_rich(self)


# -- plain text ----------------------------------------------------------------------------


def percent(fraction: float) -> str:
    return f"{fraction:.0%}"


def speed_text(speed: float) -> str:
    return f"{speed:.3g}x"


def seconds_text(seconds: float) -> str:
    """``12 s``, ``3 min 05 s``, ``2 h 01 min``."""
    whole = round(seconds)
    if whole < 60:
        return f"{max(seconds, 0):.0f} s"
    minutes, rest = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def size_text(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def first_line(text: str, limit: int = _SHORT_ERROR) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def overall_of(task: Task) -> float | None:
    """The whole run's progress; the encode's for a task stored without it."""
    if task.status is TaskStatus.COMPLETED:
        return 1.0
    return task.overall_progress if task.overall_progress is not None else task.progress


def _state(task: Task) -> str:
    return task.status.value if task.phase is None else f"{task.status.value}, {task.phase.value}"


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(sep=" ", timespec="seconds")


def task_repr(task: Task) -> str:
    """``Task(id=..., status=..., ...)`` with what tells the task apart, not every field."""
    parts = [f"id={task.id!r}", f"status={task.status.value}"]
    if task.phase is not None:
        parts.append(f"phase={task.phase.value}")
    if task.progress is not None and not task.status.is_terminal:
        parts.append(f"progress={percent(task.progress)}")
    if task.status is TaskStatus.RUNNING:
        if task.overall_progress is not None:
            parts.append(f"overall={percent(task.overall_progress)}")
        if task.speed is not None:
            parts.append(f"speed={speed_text(task.speed)}")
        if task.eta is not None:
            parts.append(f"eta={seconds_text(task.eta)!r}")
    if task.error is not None:
        parts.append(f"error={first_line(task.error)!r}")
    elif task.output_url is not None:
        parts.append(f"output_url={task.output_url!r}")
    else:
        parts.append(f"output_filename={task.output_filename!r}")
    return f"Task({', '.join(parts)})"


def _output_line(output: Output) -> str:
    facts = [output.name, size_text(output.size)]
    if output.content_type:
        facts.append(output.content_type)
    if output.media is not None and output.media.duration is not None:
        facts.append(f"{output.media.duration:.2f} s")
    return f"{' '.join(facts)}  {output.download_url or output.url}"


def task_fields(task: Task) -> list[tuple[str, str]]:
    """Label and plain text of what is known of ``task``, for a person."""
    rows = [("id", task.id), ("status", _state(task))]
    overall = overall_of(task)
    if overall is not None:
        encode = "" if task.progress is None else f"; encode {percent(task.progress)}"
        rows.append(("progress", f"{percent(overall)} overall{encode}"))
    if task.speed is not None:
        rows.append(("speed", f"{speed_text(task.speed)} real time"))
    if task.eta is not None:
        rows.append(("ETA", f"{seconds_text(task.eta)} (encode)"))
    rows.append(("command", task.command))
    rows.append(("inputs", "\n".join(f"{n} ← {u}" for n, u in task.input_files.items())))
    if task.outputs:
        rows.append(("outputs", "\n".join(_output_line(output) for output in task.outputs)))
    else:
        rows.append(("outputs", " ".join((task.output_filename, *task.output_patterns))))
    if task.error is not None:
        rows.append(("error", task.error))
    if task.queue is not None or task.priority:
        rows.append(("queue", f"{task.queue or 'default'}, priority {task.priority}"))
    if task.attempts > 1:
        rows.append(("attempts", str(task.attempts)))
    for label, value in (
        ("created", task.created_at),
        ("started", task.started_at),
        ("finished", task.finished_at),
    ):
        if (text := _time(value)) is not None:
            rows.append((label, text))
    if task.started_at is not None and task.finished_at is not None:
        rows.append(("took", seconds_text((task.finished_at - task.started_at).total_seconds())))
    return rows


def list_row(task: Task) -> dict[str, str]:
    """One task as the cells of :data:`_COLUMNS`."""
    overall = overall_of(task)
    return {
        "id": task.id,
        "status": _state(task),
        "progress": "" if overall is None else percent(overall),
        "speed": "" if task.speed is None else speed_text(task.speed),
        "ETA": "" if task.eta is None else seconds_text(task.eta),
        "output": task.output_url or task.output_filename,
        "error": "" if task.error is None else first_line(task.error),
    }


def _summary(tasks: Iterable[Task]) -> str:
    counts: dict[str, int] = {}
    for task in tasks:
        counts[task.status.value] = counts.get(task.status.value, 0) + 1
    total = sum(counts.values())
    tally = ", ".join(f"{count} {status}" for status, count in counts.items())
    return f"{total} task{'' if total == 1 else 's'}" + (f": {tally}" if tally else "")


# -- HTML ----------------------------------------------------------------------------------

_STATUS_COLOURS = {
    TaskStatus.COMPLETED: "#2e7d32",
    TaskStatus.FAILED: "#c62828",
    TaskStatus.CANCELLED: "#6d6d6d",
    TaskStatus.RUNNING: "#1565c0",
    TaskStatus.PENDING: "#6d6d6d",
}


def _escape(text: str) -> str:
    return html.escape(text, quote=True).replace("\n", "<br>")


def _link(url: str, text: str) -> str:
    """A link for an http(s) URL only (a ``javascript:`` one stays text)."""
    if urlsplit(url).scheme.lower() not in {"http", "https"}:
        return _escape(text)
    return f'<a href="{html.escape(url, quote=True)}" target="_blank">{_escape(text)}</a>'


def _progress_html(fraction: float | None, text: str) -> str:
    if fraction is None:
        return _escape(text)
    return f'<progress value="{fraction:.4f}" max="1"></progress> {_escape(text)}'


def task_html(task: Task) -> str:
    """``task`` as an HTML table of label and value."""
    cells = []
    for label, text in task_fields(task):
        if label == "progress":
            value = _progress_html(overall_of(task), text)
        elif label == "status":
            colour = _STATUS_COLOURS[task.status]
            value = f'<span style="color:{colour};font-weight:bold">{_escape(text)}</span>'
        elif label == "command":
            value = f"<code>{_escape(text)}</code>"
        elif label == "error":
            value = f'<pre style="margin:0;white-space:pre-wrap">{html.escape(text)}</pre>'
        elif label == "outputs" and task.outputs:
            value = "<br>".join(
                _link(output.download_url or output.url, _output_line(output))
                for output in task.outputs
            )
        else:
            value = _escape(text)
        cells.append(
            f'<tr><th style="text-align:left;vertical-align:top">{_escape(label)}</th>'
            f'<td style="text-align:left">{value}</td></tr>'
        )
    return f'<table class="ffmpeg-tasks-task">{"".join(cells)}</table>'


def tasks_html(tasks: Iterable[Task]) -> str:
    """Tasks as an HTML table, one row each, with a caption counting them by status."""
    tasks = list(tasks)
    head = "".join(f'<th style="text-align:left">{name}</th>' for name in _COLUMNS)
    rows = []
    for task in tasks:
        row = list_row(task)
        cells = {name: _escape(text) for name, text in row.items()}
        cells["id"] = (
            f'<code title="{html.escape(task.id, quote=True)}">{_escape(task.id[:8])}</code>'
        )
        cells["status"] = (
            f'<span style="color:{_STATUS_COLOURS[task.status]}">{cells["status"]}</span>'
        )
        cells["progress"] = _progress_html(overall_of(task), row["progress"])
        if task.download_url is not None:
            cells["output"] = _link(task.download_url, row["output"])
        rows.append(
            "<tr>"
            + "".join(f'<td style="text-align:left">{cells[name]}</td>' for name in _COLUMNS)
            + "</tr>"
        )
    return (
        f'<table class="ffmpeg-tasks-list"><caption style="text-align:left">'
        f"{_escape(_summary(tasks))}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


# -- rich ----------------------------------------------------------------------------------


def task_rich(task: Task) -> Table:
    """``task`` as a rich table of label and value."""
    from rich.table import Table
    from rich.text import Text

    table = Table(show_header=False, box=None, padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for label, text in task_fields(task):
        table.add_row(Text(label), Text(text))
    return table


def tasks_rich(tasks: Iterable[Task]) -> Table:
    """Tasks as a rich table, one row each."""
    from rich.table import Table
    from rich.text import Text

    tasks = list(tasks)
    table = Table(title=Text(_summary(tasks)), title_justify="left")
    for name in _COLUMNS:
        table.add_column(name, overflow="fold", no_wrap=name == "id")
    for task in tasks:
        row = list_row(task)
        row["id"] = task.id[:8]
        table.add_row(*(Text(row[name]) for name in _COLUMNS))
    return table
