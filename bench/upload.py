"""Upload throughput to the emulator: ``python -m bench.upload [--mb 1024]`` from the repository root.

Sends one generated CSV of ``--mb`` MiB the way the admin page does (a resumable session
for a staging object, PUTs of ``UPLOAD_CHUNK_MB`` with Content-Range; then again in the
8 MiB chunks the page sent before), then publishes it the way the app does (a server-side
rewrite of the pinned staged generation onto the live object), and prints a table next to
a plain one-request upload by google-cloud-storage and to what the old base64-in-a-callback
path would push through the app. fake-gcs-server runs on
127.0.0.1 and is stopped by PID; every step has a deadline.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests

from bench.bench import table
from data_access import GCSSource
from data_access.gcs_source import GCSStaging
from data_access.staging import new_upload_id
from settings import Settings
from testinfra import FakeGCS, emulator_client

DEADLINE_SECONDS = 1200  # per step: the whole run stays bounded
CHUNK_BYTES = int(Settings.model_fields["upload_chunk_mb"].default * 2**20)  # what the admin page sends by default
BEFORE_CHUNK_BYTES = 8 * 2**20  # what it sent before UPLOAD_CHUNK_MB
ROW = b"%d,%d,%d,some text to make rows about seventy bytes long\n"


def write_csv(path: Path, size: int) -> int:
    """A valid CSV of ``size`` bytes or a little more, written in 1 MiB blocks; its row count."""
    block = b"".join(ROW % (n, n % 97, n % 89) for n in range(2**20 // 60))
    rows_per_block = block.count(b"\n")
    blocks = size // len(block) + 1
    with open(path, "wb") as handle:
        handle.write(b"ID,first_num,second_num,label\n")
        for _ in range(blocks):
            handle.write(block)
    return blocks * rows_per_block


def send_in_chunks(session_url: str, path: Path, chunk_bytes: int) -> list[float]:
    """What admin/static/admin_upload.js does: PUT ``chunk_bytes`` at a time until storage answers 200.

    Returns the seconds each chunk took; stops with an error past DEADLINE_SECONDS.
    """
    total = path.stat().st_size
    started = time.perf_counter()
    seconds: list[float] = []
    with requests.Session() as http, open(path, "rb") as handle:
        offset = 0
        while offset < total:
            if time.perf_counter() - started > DEADLINE_SECONDS:
                raise RuntimeError(f"stopped after {DEADLINE_SECONDS} s at byte {offset:,} of {total:,}")
            chunk = handle.read(chunk_bytes)
            end = offset + len(chunk) - 1
            sent_at = time.perf_counter()
            answer = http.put(
                session_url, data=chunk, headers={"Content-Range": f"bytes {offset}-{end}/{total}"}, timeout=120
            )
            seconds.append(time.perf_counter() - sent_at)
            if answer.status_code not in (200, 201, 308):
                raise RuntimeError(f"storage answered HTTP {answer.status_code} at byte {offset}")
            offset = end + 1
    return seconds


def timed(step: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = step()
    return time.perf_counter() - started, result


def run(megabytes: int) -> str:
    with tempfile.TemporaryDirectory(prefix="bench-upload-") as folder, FakeGCS() as emulator:
        path = Path(folder) / "upload.csv"
        rows = write_csv(path, megabytes * 2**20)
        size = path.stat().st_size
        client = emulator_client(emulator)
        bucket = client.bucket("bench-upload")
        bucket.versioning_enabled = True
        client.create_bucket(bucket)
        source = GCSSource("bench-upload", "data/data.csv", client)
        staging = GCSStaging(source)

        before_url = staging.start(new_upload_id(), size, "http://127.0.0.1", "bench")
        before, _seconds = timed(lambda: send_in_chunks(before_url, path, BEFORE_CHUNK_BYTES))
        upload_id = new_upload_id()
        session_url = staging.start(upload_id, size, "http://127.0.0.1", "bench")
        chunked, chunk_seconds = timed(lambda: send_in_chunks(session_url, path, CHUNK_BYTES))
        staged = staging.find(upload_id)
        if staged is None or staged.size != size:
            raise RuntimeError("the staged upload is incomplete")
        metadata = {"rows": str(rows), "action": "publish"}
        publish, _version = timed(lambda: staging.publish(staged, None, metadata))
        plain, _blob = timed(lambda: bucket.blob("plain/upload.csv").upload_from_filename(str(path), timeout=600))

    mib = size / 2**20
    today_bytes = size * 4 / 3 * 2  # base64 inside the callback body, once for preview and again at publish
    rows_out = [
        [
            f"admin page: resumable session, {CHUNK_BYTES // 2**20} MiB chunks",
            f"{chunked:.1f} s",
            f"{mib / chunked:.0f}",
            "0",
            "1.00×",
        ],
        [
            f"before: the same, {BEFORE_CHUNK_BYTES // 2**20} MiB chunks",
            f"{before:.1f} s",
            f"{mib / before:.0f}",
            "0",
            f"{before / chunked:.2f}×",
        ],
        [
            "google-cloud-storage upload_from_filename",
            f"{plain:.1f} s",
            f"{mib / plain:.0f}",
            "—",
            f"{plain / chunked:.2f}×",
        ],
        ["publish: rewrite staged → live (in storage)", f"{publish:.1f} s", f"{mib / publish:.0f}", "0", "—"],
        ["before: base64 in a Dash callback, twice", "refused (413)", "—", f"{today_bytes / 2**20:,.0f}", "—"],
    ]
    headers = ["path", f"time for {mib:,.0f} MiB", "MiB/s", "MiB through the app", "time vs chunked"]
    tenth = max(1, len(chunk_seconds) // 10)
    first, last = chunk_seconds[:tenth], chunk_seconds[-tenth:]
    note = (
        f"{len(chunk_seconds)} chunks of {CHUNK_BYTES // 2**20} MiB; mean seconds per chunk: first tenth "
        f"{sum(first) / len(first):.2f}, last tenth {sum(last) / len(last):.2f} "
        "(the time per chunk grows with what fake-gcs-server already holds of the upload)"
    )
    return table(headers, rows_out) + "\n\n" + note


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024, help="file size in MiB (default 1024)")
    args = parser.parse_args(argv)
    print(run(args.mb))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
