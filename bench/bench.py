"""The benchmark report: ``python -m bench.bench`` from the repository root (``make bench``).

Three sections, each printed as a plain-text table with ratios (machines are noisy):

(a) unchanged-check throughput (GET /live/version) vs a no-op callback on the same gunicorn server,
(b) storage calls per minute vs the number of checking sessions, per cache type,
(c) time to take up a new generation at 10k / 100k / 1M rows, ours vs the seed's path,
(d) big data: 1M / 10M rows (CSV, Parquet), take-up time, memory over 20 generations,
    bytes per frame in Redis, ours vs the data path before Arrow frames (``--rows`` to choose sizes).

All servers (fake-gcs-server, redis-server, gunicorn) run on 127.0.0.1 and are stopped
by PID before it exits. ``make bench`` appends the report, dated, to ``docs/benchmarks/make-bench.md``
(``bench/record.py``).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench import app_memory, bigdata, first_touch, reload, sessions, throughput
from bench.load import client_name
from data_access.frame_store import REPLACED_FRAME_SECONDS
from testinfra import FakeGCS, emulator_client

SECTIONS = ("a", "b", "c", "d")
#: Section (d): the dataset size a 2-worker App Engine F4 must serve.
APP_ROWS = 5_000_000


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A markdown table with columns padded to line up in plain text too."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(cell).ljust(width) for cell, width in zip(cells, widths, strict=True)) + " |"

    separator = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([line(headers), separator, *(line(row) for row in rows)])


def _statuses(counts: Counter) -> str:
    total = sum(counts.values())
    if not total:
        return "none"
    return ", ".join(f"{status}: {count} ({count / total:.0%})" for status, count in sorted(counts.items(), key=str))


def _optional(value: float | None, template: str) -> str:
    return "n/a" if value is None else template.format(value)


def _seconds(value: float, approximate: bool = False) -> str:
    text = f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    return f"~{text}" if approximate else text


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.2f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"


def report_throughput(result: throughput.ThroughputResult) -> str:
    """Section (a)."""
    rows = []
    for name, runs in (("GET /live/version, unchanged (200)", result.poll), ("no-op callback (204)", result.noop)):
        rows.append(
            [
                name,
                " / ".join(f"{run.per_second:,.0f}" for run in runs),
                f"{throughput.mean_rate(runs):,.0f}",
                f"{max(run.p50_ms for run in runs):.1f} / {max(run.p99_ms for run in runs):.1f}",
                _optional(throughput.cpu_per_request(runs), "{:,.0f}"),
                _statuses(throughput.status_mix(runs)),
            ]
        )
    poll_seconds = sum(run.seconds for run in result.poll)
    headers = ["endpoint", "req/s per round", "req/s pooled", "worst p50 / p99 ms", "worker CPU µs/req", "statuses"]
    verdict = "meets" if result.median_ratio >= throughput.TARGET_RATIO else "BELOW"
    return "\n".join(
        [
            "## (a) Unchanged-check throughput (gunicorn -w 2, SimpleCache, VERSION_CACHE_SECONDS default)",
            "",
            f"Client: {result.poll[0].client}, {throughput.CONNECTIONS} connections, "
            f"{throughput.ROUNDS} rounds × {throughput.SECONDS_PER_RUN:.0f} s per endpoint, alternating order "
            "(gunicorn's sync workers close each connection, so every request reconnects).",
            "",
            table(headers, rows),
            "",
            f"Ratio check / no-op req/s: {result.median_ratio:.2f} median of rounds "
            f"({', '.join(f'{ratio:.2f}' for ratio in result.round_ratios)}); {result.ratio:.2f} pooled "
            f"— {verdict} the target ≥ {throughput.TARGET_RATIO}.",
            f"Ratio from worker CPU per request (no-op / check, median of rounds; steadier on a busy machine): "
            f"{_optional(result.cpu_ratio, '{:.2f}')}.",
            *_busy_warning(),
            f"Storage metadata GETs during the check runs: {result.poll_metadata_gets} "
            f"({result.poll_metadata_gets / poll_seconds:.1f}/s for 2 workers; one per worker per cache period).",
        ]
    )


def _busy_warning() -> list[str]:
    load = os.getloadavg()[0]
    cpus = os.cpu_count() or 1
    if load <= cpus * 0.75:
        return []
    return [f"Note: load average {load:.1f} on {cpus} CPUs: other work competed for the cores, req/s are noisy."]


def report_sessions(results: list[sessions.WindowResult]) -> str:
    """Section (b)."""
    rows = []
    for result in results:
        no_cache = sessions.no_cache_metadata_per_minute(result.sessions)
        ours = result.per_minute(result.metadata_gets)
        rows.append(
            [
                f"{result.cache} ({result.workers} worker{'s' if result.workers > 1 else ''})",
                f"{result.sessions}",
                f"{result.per_minute(result.polls):,.0f}",
                f"{ours:,.0f}",
                f"{sessions.cached_bound_per_minute(result.sessions):,.0f}",
                f"{no_cache:,.0f}",
                f"{ours / no_cache:.3f}" if no_cache else "-",
                f"{result.downloads / result.generations:.1f} / {result.sessions}",
                f"{result.latency_ms(0.5):.1f} / {result.latency_ms(0.99):.1f}",
                _statuses(result.statuses),
            ]
        )
    headers = [
        "cache",
        "sessions",
        "polls/min",
        "metadata GETs/min",
        "bound",
        "no shared cache",
        "ours / none",
        "downloads per gen (ours / none)",
        "poll p50 / p99 ms",
        "statuses",
    ]
    return "\n".join(
        [
            "## (b) Storage calls per minute vs sessions (POLL_INTERVAL_SECONDS "
            f"{sessions.POLL_INTERVAL_SECONDS:g}, VERSION_CACHE_SECONDS {sessions.VERSION_CACHE_SECONDS:g})",
            "",
            f"{sessions.WINDOW_SECONDS:.0f} s window per session count, counts scaled to one minute; "
            f"{sessions.GENERATIONS_PER_WINDOW} generations published per window. "
            "'bound' = min(polls, one GET per VERSION_CACHE_SECONDS per cache); "
            "'no shared cache' = one GET per poll and one download per session per generation.",
            "",
            table(headers, rows),
            "",
            *_missing_redis_note(results),
            "200s: a session's first poll, and the poll that sees a new generation; a session polling within "
            "VERSION_CACHE_SECONDS of a publish first gets the previous generation (one extra 200).",
        ]
    )


def _missing_redis_note(results: list[sessions.WindowResult]) -> list[str]:
    if any(result.cache == "RedisCache" for result in results):
        return []
    return ["redis-server is not installed (make system-deps): no RedisCache rows."]


def report_reload(results: list[reload.ReloadResult]) -> str:
    """Section (c)."""
    rows = []
    for result in results:
        ours, seed = result.ours, result.seed
        rows.append(
            [
                f"{result.rows:,}",
                _megabytes(result.csv_bytes),
                _seconds(ours.load_seconds),
                _seconds(ours.figure_seconds),
                _seconds(ours.total_seconds),
                _seconds(seed.load_seconds),
                _seconds(seed.loop_seconds, seed.extrapolated),
                _seconds(seed.figure_seconds),
                _seconds(seed.total_seconds, seed.extrapolated),
                f"{'~' if seed.extrapolated else ''}{result.ratio:,.0f}×",
                _megabytes(ours.figure_bytes),
                _megabytes(seed.figure_bytes),
            ]
        )
    headers = [
        "rows",
        "CSV",
        "ours: load",
        "ours: figure",
        "ours: total",
        "seed: download+read_csv",
        "seed: iterrows",
        "seed: figure",
        "seed: total",
        "seed / ours",
        "figure JSON ours",
        "figure JSON seed",
    ]
    return "\n".join(
        [
            "## (c) Reload time per generation",
            "",
            "ours: load = LiveData.frame(gen) on a cold SimpleCache (download pinned generation + parse + "
            "vectorised transform + cache store); figure = default_figure (default view, MAX_CHART_POINTS) "
            "+ JSON encoding as Dash does.",
            "seed: download + pd.read_csv + iterrows loop + go.Figure of 2 bar traces over all rows + JSON. "
            f"'~': iterrows timed on the first {reload.SEED_LOOP_SAMPLE:,} rows and scaled linearly.",
            "",
            table(headers, rows),
        ]
    )


def _ratio(before: float, ours: float) -> str:
    return f"{before / ours:,.1f}×" if ours else "-"


def _growth(first: float, last: float) -> str:
    return f"{first:,.0f} → {last:,.0f} MB ({last / first - 1:+.0%})" if first else "-"


def _idle_take_up(result: bigdata.CaseResult) -> str:
    if result.idle_take_up is None:
        return "-"
    seconds, kernel_seconds = result.idle_take_up
    return f"{_seconds(seconds)} ({_seconds(kernel_seconds)})"


def report_bigdata(
    measured: tuple[list[bigdata.CaseResult], app_memory.AppMemoryResult | None, dict[float, float]],
) -> str:
    """Section (d): ours next to before for each size and format, then the real app at APP_ROWS."""
    results, app, first_touch_costs = measured
    take_up, memory = [], []
    for result in results:
        label = [f"{result.rows:,}", result.data_format, result.path]
        if result.error:
            take_up.append([*label, f"{result.object_mb:,.0f} MB", "FAILED: " + result.error, *[""] * 7])
            continue
        pair = _pair(results, result)
        take_up.append(
            [
                *label,
                f"{result.object_mb:,.0f} MB",
                f"{_seconds(result.take_up_median)} ({_seconds(min(result.take_up_seconds))})",
                _ratio(pair.take_up_median, result.take_up_median) if pair and result.path == "ours" else "",
                " / ".join(_seconds(seconds) for seconds in result.take_up_cpu_median),
                _idle_take_up(result),
                f"{result.frame_mb:,.0f} MB",
                f"{result.peak_rise_mb:,.0f} MB ({result.peak_rise_mb / result.frame_mb:.1f}× frame)",
                _megabytes(result.shared_bytes),
                _seconds(result.shared_read_median),
            ]
        )
        first, last, settled = result.after_first, result.after_last, result.settled
        if first is None or last is None or settled is None:
            continue  # --generations 0: take-up only
        memory.append(
            [
                *label,
                str(result.generations),
                _growth(first.worker_a_mb, last.worker_a_mb),
                _growth(first.worker_b_mb, last.worker_b_mb),
                _growth(first.redis_mb, last.redis_mb),
                " / ".join(
                    f"{later / earlier - 1:+.0%}"
                    for later, earlier in (
                        (settled.worker_a_mb, first.worker_a_mb),
                        (settled.worker_b_mb, first.worker_b_mb),
                        (settled.redis_mb, first.redis_mb),
                    )
                ),
            ]
        )
    return "\n".join(
        [
            "## (d) Big data: take-up, memory over many generations, bytes in the shared cache",
            "",
            f"before = the data path at commit {bigdata.BEFORE_COMMIT} (exported with git archive) in the same run. "
            f"Take-up: a worker with a cold SimpleCache, median of {bigdata.REPEATS} (1 for before at 10M): "
            "download + parse + checks + derive. Peak rise = highest RSS during the take-up minus RSS before it. "
            "Frame in Redis = the bytes one generation's frame takes there; 2nd worker = median time for worker B "
            "to take a generation up once worker A has stored it (memory run below). CPU: medians of the worker's "
            "user and kernel CPU time during a take-up, and of the time the host took the machine's vCPUs "
            "(steal, all vCPUs). After idle: one more take-up after the worker sat idle, as a real new generation "
            "arrives; on a VM whose host takes freed memory back, its kernel time is first touches of new memory "
            "(docs/benchmarks/big-data.md).",
            "",
            first_touch.summary(first_touch_costs),
            "",
            table(
                [
                    "rows",
                    "format",
                    "path",
                    "object",
                    "take-up: median (best)",
                    "before / ours",
                    "CPU user / kernel / stolen",
                    f"after {bigdata.IDLE_SECONDS} s idle (kernel CPU)",
                    "parsed frame",
                    "peak RSS rise",
                    "frame in Redis",
                    "2nd worker: from Redis",
                ],
                take_up,
            ),
            "",
            "Memory: two workers on one redis-server (A downloads each generation, B reads it from Redis), "
            f"environment {bigdata.WORKER_ENV}; RSS after the first and after the last generation "
            f"(before at 10M: {bigdata.BEFORE_10M_GENERATIONS} generations, its Redis grows by a pickled frame each).",
            "",
            table(
                [
                    "rows",
                    "format",
                    "path",
                    "generations",
                    "worker A RSS: after 1 → after last",
                    "worker B RSS",
                    "Redis used_memory",
                    f"A / B / Redis {REPLACED_FRAME_SECONDS + 1} s later, vs after 1",
                ],
                memory,
            ),
            *_report_app_memory(app),
        ]
    )


def _report_app_memory(app: app_memory.AppMemoryResult | None) -> list[str]:
    if app is None:
        return []
    rows = [
        [
            f"worker {number}",
            f"{first:,.0f} MB",
            f"{last:,.0f} MB ({last / first - 1:+.0%})",
            f"{peak:,.0f} MB",
        ]
        for number, (first, last, peak) in enumerate(
            zip(app.after_first_mb, app.after_last_mb, app.peak_mb, strict=True), 1
        )
    ]
    return [
        "",
        f"The real app (gunicorn, 2 gthread workers × 8 threads as in app.yaml, RedisCache, MALLOC_ARENA_MAX=2, "
        f"FRAME_MEMORY_MB={app_memory.FRAME_MEMORY_MB}) "
        f"serving {app.rows:,} rows ({app.csv_mb:,.0f} MB CSV) through {app.generations} generations, "
        f"{app_memory.POLLS_PER_GENERATION} concurrent first polls each (statuses {app.statuses}):",
        "",
        table(["process", "RSS after 1st generation", "after last", "peak over the run"], rows),
        "",
        f"Instance (master + both workers) at its highest, sampled every {app_memory.SAMPLE_SECONDS * 1000:.0f} ms: "
        f"**{app.sampled_instance_peak_mb:,.0f} MB**; upper bound master + each worker's own peak: "
        f"{app.instance_peak_bound_mb:,.0f} MB (App Engine: F2 768 MB, F4 1,536 MB, F4_1G 3,072 MB).",
    ]


def _pair(results: list[bigdata.CaseResult], result: bigdata.CaseResult) -> bigdata.CaseResult | None:
    return next(
        (
            other
            for other in results
            if (other.rows, other.data_format) == (result.rows, result.data_format)
            and other.path != result.path
            and not other.error
        ),
        None,
    )


def _section(name: str, run: Callable[[], Any], render: Callable[[Any], str]) -> tuple[str, bool]:
    """Run one section; a failure becomes its text instead of ending the report."""
    started = time.monotonic()
    print(f"[bench] section ({name}) ...", file=sys.stderr, flush=True)
    try:
        text = render(run())
        ok = True
    except Exception:
        text = f"## ({name}) FAILED\n\n```\n{traceback.format_exc()}```"
        ok = False
    elapsed = time.monotonic() - started
    print(f"[bench] section ({name}) took {elapsed:.0f} s", file=sys.stderr, flush=True)
    return f"{text}\n\n_section ({name}) took {elapsed:.0f} s_", ok


def _header() -> str:
    load = os.getloadavg()
    return "\n".join(
        [
            "# Live dashboard benchmark",
            "",
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {platform.node()} · {os.cpu_count()} CPUs · "
            f"Python {platform.python_version()} · load client: {client_name()} · "
            f"load average at start {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}",
        ]
    )


def run(
    sections: tuple[str, ...] = SECTIONS,
    row_counts: tuple[int, ...] = bigdata.ROW_COUNTS,
    app_rows: int = APP_ROWS,
    generations: int = bigdata.GENERATIONS,
) -> tuple[str, bool]:
    """Run the chosen sections against one fake-gcs-server; returns (report, all succeeded)."""
    started = time.monotonic()
    parts = [_header()]
    all_ok = True
    with FakeGCS() as emulator:
        client = emulator_client(emulator, "bench")
        plan = {
            "a": (lambda: throughput.measure(emulator, client), report_throughput),
            "b": (lambda: sessions.measure(emulator, client), report_sessions),
            "c": (lambda: reload.measure(emulator, client), report_reload),
            "d": (
                lambda: (
                    bigdata.measure(emulator, client, row_counts, generations),
                    app_memory.measure(emulator, client, app_rows) if app_rows else None,
                    first_touch.measure((0.0, 8.0), repeats=1),
                ),
                report_bigdata,
            ),
        }
        for name in sections:
            text, ok = _section(name, *plan[name])
            parts.append(text)
            all_ok = all_ok and ok
    parts.append(f"Total time: {time.monotonic() - started:.0f} s.")
    return "\n\n".join(parts) + "\n", all_ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the live dashboard and print one report.")
    parser.add_argument("--only", default="".join(SECTIONS), help="sections to run, e.g. 'ac' (default: abcd)")
    parser.add_argument(
        "--rows",
        default=",".join(map(str, bigdata.ROW_COUNTS)),
        help="section (d): row counts, comma-separated (default: 1000000,10000000)",
    )
    parser.add_argument(
        "--app-rows",
        type=int,
        default=APP_ROWS,
        help=f"section (d): rows the real 2-worker app serves (default {APP_ROWS:,}; 0 skips it)",
    )
    parser.add_argument(
        "--generations",
        type=int,
        default=bigdata.GENERATIONS,
        help=f"section (d): generations in the memory run (default {bigdata.GENERATIONS}; 0: take-up times only)",
    )
    args = parser.parse_args(argv)
    chosen = tuple(section for section in SECTIONS if section in args.only.lower())
    row_counts = tuple(int(count) for count in args.rows.split(",") if count.strip())
    report, ok = run(chosen or SECTIONS, row_counts, args.app_rows, args.generations)
    print(report)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
