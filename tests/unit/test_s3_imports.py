"""boto3 loads on first use only, and the S3 package's modules import each other one way.

The import checks run in a fresh interpreter, so nothing another test imported counts.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import ffmpeg_tasks

PACKAGE = Path(ffmpeg_tasks.__file__).parent / "_s3"
SDK_ROOTS = {"boto3", "botocore", "s3transfer"}


def test_importing_and_building_the_s3_adapters_does_not_import_boto3() -> None:
    code = (
        "import sys, ffmpeg_tasks, ffmpeg_tasks.fetchers, ffmpeg_tasks.uploaders\n"
        "import ffmpeg_tasks.testing\n"
        "from ffmpeg_tasks.fetchers import S3Fetcher\n"
        "from ffmpeg_tasks.uploaders import S3Uploader\n"
        "fetcher = S3Fetcher(['media-in'], region='eu-west-1', max_size=10)\n"
        "fetcher.parse('s3://media-in/clip.mp4')\n"
        "uploader = S3Uploader('outputs', endpoint_url='http://127.0.0.1:9000',\n"
        "                      aws_access_key_id='id', aws_secret_access_key='secret')\n"
        "repr(fetcher), repr(uploader), uploader.key(task_id='t', name='out.mp4')\n"
        "loaded = {m.partition('.')[0] for m in sys.modules} & {'boto3', 'botocore', "
        "'s3transfer'}\n"
        "print(sorted(loaded), 'ffmpeg_tasks._s3.sdk' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] False"


def _imports(tree: ast.Module) -> list[tuple[ast.ImportFrom | ast.Import, bool]]:
    """Every import in the module, and whether it runs when the module is imported."""
    found: list[tuple[ast.ImportFrom | ast.Import, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.append((child, top))
            elif isinstance(child, ast.If) and ast.unparse(child.test) == "TYPE_CHECKING":
                visit(child, top=False)
            else:
                nested = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
                visit(child, top=top and not nested)

    visit(tree, top=True)
    return found


def test_the_s3_modules_import_each_other_without_a_cycle() -> None:
    modules = {path.stem: ast.parse(path.read_text()) for path in PACKAGE.glob("*.py")}
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, tree in modules.items():
        for node, _ in _imports(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                targets = [node.module] if node.module else [a.name for a in node.names]
                edges[name] |= {target.partition(".")[0] for target in targets}
    assert not any("__init__" in targets for targets in edges.values()), edges

    def reaches(start: str, goal: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(
            step == goal or (step not in seen and reaches(step, goal, seen | {step}))
            for step in edges.get(start, ())
        )

    assert [name for name in edges if reaches(name, name)] == []


def test_only_the_sdk_module_imports_boto3_when_it_is_loaded() -> None:
    eager: dict[str, set[str]] = {}
    for path in PACKAGE.glob("*.py"):
        for node, top in _imports(ast.parse(path.read_text())):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [alias.name for alias in node.names]
            )
            roots = {name.partition(".")[0] for name in names} & SDK_ROOTS
            if top and roots and not (isinstance(node, ast.ImportFrom) and node.level):
                eager.setdefault(path.stem, set()).update(roots)
    assert set(eager) == {"sdk"}, eager
