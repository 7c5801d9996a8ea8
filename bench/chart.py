"""Chart benchmark: ``python -m bench.chart`` (``--rows 1000000,10000000``).

For each size, a sorted time series (one reading per second, a random walk with a one-row spike)
is written to a Parquet file and served two ways, each by gunicorn on 127.0.0.1:

* ours: the app (2 workers), reading the file as its data source;
* plotly-resampler 0.11.1: ``FigureResampler`` in a Dash app (1 worker: its figure lives in one
  process), same file, same points per trace.

Measured per size: the chart payload (bytes the browser downloads for the figure), the zoom
re-resolve time (in process: computing the patch; over HTTP: the callback round trip, median of
windows of 10 %, 1 % and 0.1 % of the range), whether the spike is in the full view, and, at the
first size, the first chart in headless Chromium (navigation to the first trace drawn, median of
3 visits after one warm-up). Servers are stopped by PID; runs are bounded in count and time.

plotly-resampler pins plotly<7 in its metadata but runs on plotly 7 for this: install it with
``pip install --no-deps -r requirements-bench.txt``. Without it, only our rows are printed.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import statistics
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import numpy as np
import pandas as pd
from plotly.io.json import to_json_plotly
from werkzeug.security import generate_password_hash

from bench.bench import table
from components.figures import chart_for, figure_from, view_figure
from data_access.roles import detect_roles
from data_access.view_state import ViewState
from testinfra import Gunicorn
from testinfra.dash_requests import live_shown

POINTS = 4_000  # MAX_CHART_POINTS, the app's default; plotly-resampler gets the same per trace
SPIKE = 1e7  # far above the random walk (its spread over 10M steps is about ±3,000)
WINDOWS = (0.10, 0.01, 0.001)
VISITS = 3
REPEATS = 5
WARM_UP_REQUESTS = 6
BROWSER_TIMEOUT_SECONDS = 60


def make_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """A sorted time series with one outlier row in the middle third."""
    generator = np.random.default_rng(seed)
    values = np.cumsum(generator.normal(size=rows)).astype("float64")
    values[rows // 3 + 11] = SPIKE
    return pd.DataFrame({"time": pd.date_range("2024-01-01", periods=rows, freq="s"), "reading": values})


def _windows(frame: pd.DataFrame) -> list[list[str]]:
    start, end = frame["time"].iloc[0], frame["time"].iloc[-1]
    middle = start + (end - start) / 2
    return [[str(middle - (end - start) * share / 2), str(middle + (end - start) * share / 2)] for share in WINDOWS]


def _median_ms(run: Callable[[], Any], repeats: int = 3) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def in_process_ours(frame: pd.DataFrame) -> dict[str, Any]:
    """Our figure and zoom patch computed in this process (no HTTP)."""
    roles = detect_roles(frame)
    view, _ = ViewState().resolve(roles)
    figure, _ = view_figure(frame, roles, view, POINTS)
    spike = _has_spike(figure)
    zoom = statistics.median(
        _median_ms(lambda w=window: to_json_plotly(figure_from(chart_for(frame, roles, view, POINTS, w), view)))
        for window in _windows(frame)
    )
    return {"zoom_ms": zoom, "spike": spike}


def in_process_resampler(frame: pd.DataFrame) -> dict[str, Any] | None:
    """plotly-resampler's figure and zoom patch computed in this process."""
    try:
        import plotly.graph_objects as go
        from plotly_resampler import FigureResampler
    except ImportError:
        return None
    figure = FigureResampler(go.Figure(), default_n_shown_samples=POINTS)
    figure.add_trace(go.Scattergl(name="reading", mode="lines"), hf_x=frame["time"], hf_y=frame["reading"])
    spike = bool(np.any(np.asarray(figure.data[0].y, dtype=float) == SPIKE))

    def zoom(window: list[str]) -> None:
        relayout = {"xaxis.range[0]": window[0], "xaxis.range[1]": window[1]}
        to_json_plotly(figure.construct_update_data_patch(relayout).to_plotly_json())

    return {"zoom_ms": statistics.median(_median_ms(lambda w=w: zoom(w)) for w in _windows(frame)), "spike": spike}


def _has_spike(figure: dict[str, Any]) -> bool:
    y = figure["data"][0]["y"]
    values = np.frombuffer(base64.b64decode(y["bdata"]), dtype="<f8") if isinstance(y, dict) else np.asarray(y)
    return bool(np.any(values == SPIKE))


def _post(url: str, body: dict[str, Any]) -> tuple[float, bytes]:
    """Milliseconds and body of one callback POST; anything but a 200 with data is an error, not a timing."""
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        content = response.read()
        status = response.status
    elapsed = (time.perf_counter() - started) * 1000
    if status != 200 or b'"response"' not in content:
        raise RuntimeError(f"{url} answered {status} without data: the timing would measure nothing")
    return elapsed, content


def _timed(run: Any) -> float:
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) * 1000


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


def _zoom_callback(base_url: str) -> dict[str, Any]:
    """The registered callback whose input is the graph's relayoutData (output ids carry a hash)."""
    dependencies = json.loads(_get(f"{base_url}/_dash-dependencies"))
    return next(d for d in dependencies if any(i["property"] == "relayoutData" for i in d["inputs"]))


def _payload_from_spec(spec: dict[str, Any], inputs: list[Any], state: list[Any]) -> dict[str, Any]:
    outputs = [
        dict(zip(("id", "property"), key.rsplit(".", 1), strict=True)) for key in spec["output"].strip(".").split("...")
    ]
    return {
        "output": spec["output"],
        "outputs": outputs if len(outputs) > 1 else outputs[0],
        "inputs": [{**i, "value": v} for i, v in zip(spec["inputs"], inputs, strict=True)],
        "state": [{**s, "value": v} for s, v in zip(spec["state"], state, strict=True)],
        "changedPropIds": [f"{spec['inputs'][0]['id']}.{spec['inputs'][0]['property']}"],
    }


def http_ours(base_url: str, frame: pd.DataFrame) -> dict[str, Any]:
    """Payload of the first figure and the zoom GET's round trip, on the app's gunicorn."""
    shown = live_shown(base_url)
    chart_url = f"{base_url}/live/{quote(shown['generation'])}/chart?{urlencode({'t': shown['token']})}"
    body = _get(chart_url)
    payload_bytes = len(body)
    answer = json.loads(body)
    assert not answer["aggregated"], "a zoom of an aggregate adds nothing: the timing would measure nothing"
    for _ in range(WARM_UP_REQUESTS):  # every worker loads the frame once before anything is timed
        _get(chart_url)

    def zoom(window: list[str]) -> float:
        """The page's zoom: the same GET with the visible range (x0, x1)."""
        url = f"{chart_url}&{urlencode({'x0': window[0], 'x1': window[1]})}"
        return statistics.median(_timed(lambda: _get(url)) for _ in range(REPEATS))

    return {"payload": payload_bytes, "zoom_http_ms": statistics.median(zoom(w) for w in _windows(frame))}


def http_resampler(base_url: str, frame: pd.DataFrame) -> dict[str, Any]:
    """Payload of the layout (its figure travels in it) and the zoom callback's round trip."""
    payload_bytes = len(_get(f"{base_url}/_dash-layout"))
    spec = _zoom_callback(base_url)

    def zoom(window: list[str]) -> float:
        relayout = {"xaxis.range[0]": window[0], "xaxis.range[1]": window[1]}
        body = _payload_from_spec(spec, [relayout], [None] * len(spec["state"]))
        return statistics.median(_post(f"{base_url}/_dash-update-component", body)[0] for _ in range(REPEATS))

    return {"payload": payload_bytes, "zoom_http_ms": statistics.median(zoom(w) for w in _windows(frame))}


@contextmanager
def chromium() -> Iterator[Any]:
    """Headless Debian Chromium with a throw-away profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="bench-chart-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1300,900",
        "--no-first-run",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


FIRST_TRACE_DRAWN_JS = """
    const gd = document.querySelector('.js-plotly-plot');
    return Boolean(gd && gd._fullData && gd._fullData.length && gd._fullData[0].x && gd._fullData[0].x.length);
"""


def first_chart_seconds(driver: Any, url: str) -> float:
    """Seconds from navigation to the first trace drawn (polled every 10 ms; bounded)."""
    driver.get("about:blank")
    started = time.perf_counter()
    driver.get(url)  # returns after the page's load event; the chart comes later, from callbacks
    deadline = started + BROWSER_TIMEOUT_SECONDS
    while time.perf_counter() < deadline:
        if driver.execute_script(FIRST_TRACE_DRAWN_JS):
            return time.perf_counter() - started
        time.sleep(0.01)
    raise RuntimeError(f"no chart at {url} within {BROWSER_TIMEOUT_SECONDS} s")


def browser_seconds(driver: Any, url: str) -> float:
    first_chart_seconds(driver, url)  # warm-up: the server loads the data, the browser caches the scripts
    return statistics.median(first_chart_seconds(driver, url) for _ in range(VISITS))


def _app_env(path: Path) -> dict[str, str]:
    return {
        "APP_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "ADMIN_USERS": f"bench:{generate_password_hash(secrets.token_urlsafe(16))}",
        "DATA_SOURCE": "local",
        "LOCAL_DATA_PATH": str(path),
        "DATA_SCHEMA": "",
        "MAX_CHART_POINTS": str(POINTS),
        "MAX_ROWS": "20000000",  # the default (2M) is an upload limit; the benchmark serves 10M rows
    }


def run_size(rows: int, with_browser: bool, workdir: Path, resampler: bool) -> dict[str, Any]:
    frame = make_frame(rows)
    path = workdir / f"series-{rows}.parquet"
    frame.to_parquet(path, index=False)
    result: dict[str, Any] = {"rows": rows, "ours": in_process_ours(frame)}
    result["resampler"] = in_process_resampler(frame) if resampler else None
    with Gunicorn(_app_env(path), workers=2) as ours:
        result["ours"].update(http_ours(ours.url, frame))
        if with_browser:
            with chromium() as driver:
                result["ours"]["first_chart_s"] = browser_seconds(driver, ours.url + "/")
    if resampler:
        env = {"BENCH_DATA_PATH": str(path), "BENCH_POINTS": str(POINTS)}
        with Gunicorn(env, workers=1, wsgi_app="bench.resampler_app:server") as theirs:
            result["resampler"].update(http_resampler(theirs.url, frame))
            if with_browser:
                with chromium() as driver:
                    result["resampler"]["first_chart_s"] = browser_seconds(driver, theirs.url + "/")
    del frame
    return result


def _ratio(ours: float | None, theirs: float | None) -> str:
    return "n/a" if not ours or not theirs else f"{theirs / ours:.2f}×"


def report(results: list[dict[str, Any]]) -> str:
    """One table: ours vs plotly-resampler, with the ratio theirs / ours (above 1: ours is smaller/faster)."""
    rows = []
    for result in results:
        ours, theirs = result["ours"], result["resampler"] or {}
        label = f"{result['rows']:,}"
        rows.append(
            [
                label,
                "chart payload",
                f"{ours['payload'] / 1e6:.2f} MB",
                f"{theirs['payload'] / 1e6:.2f} MB" if theirs else "n/a",
                _ratio(ours["payload"], theirs.get("payload")),
            ]
        )
        rows.append(
            [
                label,
                "zoom re-resolve, in process",
                f"{ours['zoom_ms']:.1f} ms",
                f"{theirs['zoom_ms']:.1f} ms" if theirs else "n/a",
                _ratio(ours["zoom_ms"], theirs.get("zoom_ms")),
            ]
        )
        rows.append(
            [
                label,
                "zoom (ours: GET; theirs: callback), HTTP round trip",
                f"{ours['zoom_http_ms']:.0f} ms",
                f"{theirs['zoom_http_ms']:.0f} ms" if theirs else "n/a",
                _ratio(ours["zoom_http_ms"], theirs.get("zoom_http_ms")),
            ]
        )
        rows.append(
            [
                label,
                "one-row spike in the full view",
                "yes" if ours["spike"] else "NO",
                ("yes" if theirs["spike"] else "NO") if theirs else "n/a",
                "",
            ]
        )
        if "first_chart_s" in ours:
            rows.append(
                [
                    label,
                    "first chart in headless Chromium",
                    f"{ours['first_chart_s']:.2f} s",
                    f"{theirs['first_chart_s']:.2f} s" if "first_chart_s" in theirs else "n/a",
                    _ratio(ours["first_chart_s"], theirs.get("first_chart_s")),
                ]
            )
    headers = ["rows", "measure", "ours (2 workers)", "plotly-resampler (1 worker)", "resampler / ours"]
    return table(headers, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000000,10000000", help="comma-separated sizes (default 1M and 10M)")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.rows.split(",")]
    try:
        import plotly_resampler  # noqa: F401

        resampler = True
    except ImportError:
        print("plotly-resampler is not installed (pip install --no-deps -r requirements-bench.txt): ours only")
        resampler = False
    workdir = Path(tempfile.mkdtemp(prefix="bench-chart-"))
    started = time.perf_counter()
    try:
        # One size at a time: 10M rows take a few hundred MB in each process.
        results = [run_size(rows, index == 0, workdir, resampler) for index, rows in enumerate(sizes)]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"Load average at the end: {load} on {os.cpu_count()} CPUs (timings on a busy machine run long)\n"
        f"Chart benchmark ({time.perf_counter() - started:.0f} s; {POINTS:,} points per trace; "
        "zoom: median of windows of 10 %, 1 %, 0.1 % of the range)"
    )
    print(report(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
