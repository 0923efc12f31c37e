"""Peak memory of HttpFetcher downloading a large body, against curl (a benchmark, not a test).

A loopback server (the tests' ``HttpServer``) makes the body while sending it, so no large file
exists in memory or on disk before the download. Each download runs in a fresh child process
whose peak RSS GNU time reports (``%M``): one number per process, nothing sampled. A child
that only imports the library gives the interpreter's own baseline. Target: HttpFetcher's peak
RSS stays under 100 MiB for a 1 GiB body.

    uv run python benchmarks/fetch_memory.py [--size-mib 1024] [--runs 1] [--backend trio]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

from ffmpeg_tasks.fetchers import HttpFetcher

#: The repository, for tests.fixtures.http_server (imported by the parent only, so the
#: children's memory holds the library and nothing else).
ROOT = Path(__file__).resolve().parents[1]

TARGET_MIB = 100.0
#: GNU time (Debian package "time"), for the children's peak RSS.
TIME = "/usr/bin/time"


def child(url: str, destination: Path, backend: str) -> None:
    """Runs in the child process: one fetch, then its figures as JSON on stdout."""

    async def fetch() -> int:
        fetcher = HttpFetcher(allow_private_networks=True, deadline=None)
        try:
            return await fetcher.fetch(url, destination=destination)
        finally:
            await fetcher.aclose()

    started = time.perf_counter()
    size = anyio.run(fetch, backend=backend)
    print(json.dumps({"bytes": size, "seconds": time.perf_counter() - started}))


def run(command: list[str]) -> tuple[float, float, str]:
    """Run ``command``; return its wall time, its own peak RSS in MiB, and its stdout.

    GNU time measures the peak: it forks the command from its own small process. (Our rusage
    of a child forked from this process would count this process's memory too: a child's
    peak includes the pages it shared with its parent before exec.)
    """
    with tempfile.NamedTemporaryFile("r") as report:
        started = time.perf_counter()
        result = subprocess.run(
            [TIME, "-f", "%M", "-o", report.name, *command],
            stdout=subprocess.PIPE,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"{command[0]} failed with status {result.returncode}")
        peak_kib = int(report.read().split()[-1])
    return elapsed, peak_kib / 1024, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--child", nargs=2, metavar=("URL", "DEST"), help=argparse.SUPPRESS)
    parser.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline:
        return  # the imports above are the whole job
    if args.child:
        child(args.child[0], Path(args.child[1]), args.backend)
        return
    sys.path.insert(0, str(ROOT))
    from tests.fixtures.http_server import HttpServer

    if not Path(TIME).exists():
        raise SystemExit(f"{TIME} (GNU time) is needed to measure peak RSS: apt-get install time")
    curl = shutil.which("curl")
    size = args.size_mib * 1024 * 1024
    rows: dict[str, list[tuple[float, float]]] = {"HttpFetcher": [], "curl": []}
    inner: list[float] = []
    with HttpServer() as server, tempfile.TemporaryDirectory() as folder:
        url = server.add_generated("/big.bin", size)
        _, baseline, _ = run([sys.executable, __file__, "--baseline"])
        for attempt in range(args.runs):
            destination = Path(folder) / f"fetched-{attempt}.bin"
            command = [sys.executable, __file__, "--backend", args.backend]
            command += ["--child", url, str(destination)]
            seconds, peak, output = run(command)
            report = json.loads(output)
            if report["bytes"] != size or destination.stat().st_size != size:
                raise SystemExit(f"HttpFetcher wrote {report['bytes']} bytes, not {size}")
            rows["HttpFetcher"].append((seconds, peak))
            print(
                f"run {attempt + 1} HttpFetcher: {seconds:.2f} s "
                f"(fetch alone {report['seconds']:.2f} s), peak RSS {peak:.1f} MiB"
            )
            inner.append(report["seconds"])
            destination.unlink()
            if curl:
                target = Path(folder) / f"curl-{attempt}.bin"
                seconds, peak, _ = run([curl, "-s", "-f", "-o", str(target), url])
                if target.stat().st_size != size:
                    raise SystemExit("curl downloaded the wrong number of bytes")
                rows["curl"].append((seconds, peak))
                print(f"run {attempt + 1} curl:        {seconds:.2f} s, peak RSS {peak:.1f} MiB")
                target.unlink()

    print(
        f"body: {args.size_mib} MiB from 127.0.0.1, generated while sent; "
        f"runs: {args.runs}; backend: {args.backend}"
    )
    print(f"python baseline (interpreter + imports, no fetch): {baseline:.1f} MiB peak RSS")
    print()
    print("best wall time and highest peak RSS over the runs:")
    print(f"{'tool':<12} {'wall s':>8} {'MiB/s':>8} {'peak RSS MiB':>13}")
    best: dict[str, tuple[float, float]] = {}
    for tool, results in rows.items():
        if not results:
            print(f"{tool:<12} {'(not installed)':>31}")
            continue
        seconds = min(r[0] for r in results)
        peak = max(r[1] for r in results)
        best[tool] = (seconds, peak)
        print(f"{tool:<12} {seconds:>8.2f} {args.size_mib / seconds:>8.0f} {peak:>13.1f}")
    print(
        f"(HttpFetcher's wall time includes starting Python; the fetch alone took "
        f"{min(inner):.2f} s, {args.size_mib / min(inner):.0f} MiB/s)"
    )
    _, fetch_peak = best["HttpFetcher"]
    if "curl" in best:
        curl_seconds, curl_peak = best["curl"]
        print()
        print(f"time ratio HttpFetcher/curl (fetch alone): {min(inner) / curl_seconds:.2f}")
        print(f"peak RSS ratio HttpFetcher/curl: {fetch_peak / curl_peak:.2f}")
    verdict = "PASS" if fetch_peak < TARGET_MIB else "FAIL"
    print(f"target: HttpFetcher peak RSS < {TARGET_MIB:.0f} MiB: {verdict} ({fetch_peak:.1f} MiB)")
    # this process served the body; its own peak shows the server did not buffer it either
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(server process peak RSS: {own:.1f} MiB)")
    if verdict == "FAIL":
        raise SystemExit(1)


if __name__ == "__main__":
    main()
