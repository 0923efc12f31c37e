"""Showing an output in Jupyter: a video, audio or image element by its content type, a link
for anything else.

IPython is no dependency of the library: it is imported when an output is shown, and a missing
one is named with the extra that brings it (``notebook``).
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from urllib.request import url2pathname

from ._errors import ConfigurationError
from ._media_types import content_type
from ._models import Output

if TYPE_CHECKING:
    from IPython.display import DisplayObject, FileLink

__all__ = ["MAX_EMBED_BYTES", "show_output"]

#: Local files up to this size are embedded in the notebook unless told otherwise; larger
#: ones are linked (base64 in a notebook's JSON costs a third more than the file).
MAX_EMBED_BYTES = 64 * 1024 * 1024


def _require_ipython() -> None:
    try:
        import IPython.display  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError(
            f"showing an output needs IPython ({exc.name or exc} is missing): run it in "
            'Jupyter, or pip install "ffmpeg-tasks[notebook]"'
        ) from exc


def show_output(output: Output, *, embed: bool | None = None) -> DisplayObject | FileLink:
    """An IPython object that shows ``output`` where it is the value of a cell.

    Args:
        output: A stored output: a local ``file://`` one, or one with an http(s)
            ``download_url``.
        embed: For a local file, put its bytes into the notebook (True) or point at the file
            (False: Jupyter serves it when it is under the folder Jupyter was started in).
            None embeds files up to :data:`MAX_EMBED_BYTES`.

    Raises:
        ConfigurationError: IPython is missing, or the output is remote and has no download
            URL a browser can use.
        FileNotFoundError: the local file is gone.
    """
    _require_ipython()
    media_type = output.content_type or content_type(output.name)
    kind = media_type.partition("/")[0]
    url = urlsplit(output.url)
    if url.scheme == "file":
        path = Path(url2pathname(url.path))
        if not path.is_file():
            raise FileNotFoundError(f"output {output.name!r} is no longer at {path}")
        if embed is None:
            embed = path.stat().st_size <= MAX_EMBED_BYTES
        return _local(path, kind, media_type, embed=embed)
    download = output.download_url
    if download is not None and urlsplit(download).scheme.lower() in {"http", "https"}:
        return _remote(download, kind, name=output.name)
    raise ConfigurationError(
        f"output {output.name!r} is stored at {output.url} and has no download URL a browser "
        "can use; have the uploader make one (S3Uploader(presign_expires=...)) or download "
        "the file and show it from a local path"
    )


def _local(path: Path, kind: str, media_type: str, *, embed: bool) -> DisplayObject | FileLink:
    from IPython.display import Audio, FileLink, Image, Video

    if not embed or kind not in {"video", "audio", "image"}:
        # a URL relative to the kernel's folder, which is the notebook's
        source = os.path.relpath(path)
        if kind == "video":
            return Video(url=source)
        if kind == "audio":
            return Audio(url=source)
        if kind == "image":
            return Image(url=source, embed=False)
        return FileLink(source)
    if kind == "video":
        return Video(filename=str(path), embed=True, mimetype=media_type)
    if kind == "audio":
        return Audio(filename=str(path))
    return Image(filename=str(path))


def _remote(url: str, kind: str, *, name: str) -> DisplayObject:
    from IPython.display import HTML, Audio, Image, Video

    if kind == "video":
        return Video(url=url)
    if kind == "audio":
        return Audio(url=url)
    if kind == "image":
        return Image(url=url, embed=False)
    link = f'<a href="{html.escape(url, quote=True)}" target="_blank">{html.escape(name)}</a>'
    return HTML(link)
