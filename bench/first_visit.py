"""Bytes a first visit to the chart page downloads, uncompressed vs gzip vs brotli: ``python -m bench.first_visit``.

Fetches the index and every script and stylesheet it names (plus the plotly.js bundle the
chart loads) through the app, as a browser with an empty cache would, and adds up the
bytes on the wire for each ``Accept-Encoding``.
"""

from __future__ import annotations

import re
import sys

from bench.bench import table


def first_visit_bytes(client, accept_encoding: str | None) -> tuple[int, int]:
    """(bytes, files) of a first visit with this Accept-Encoding (``None``: none sent)."""
    headers = {"Accept-Encoding": accept_encoding} if accept_encoding else {}
    index = client.get("/", headers=headers)
    html = client.get("/").get_data(as_text=True)
    urls = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(/[^"]+)"', html)
    total = len(index.data)
    for url in urls:
        response = client.get(url, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
        total += len(response.data)
    return total, len(urls) + 1


def main() -> int:
    from app import create_app
    from settings import Settings

    app = create_app(Settings.from_env({}, app_env="development", data_source="local"))
    client = app.server.test_client()
    rows = []
    plain, files = first_visit_bytes(client, None)
    for label, encoding in (("none", None), ("gzip", "gzip"), ("br (Chromium: gzip, deflate, br, zstd)", "br")):
        size, _ = first_visit_bytes(client, encoding)
        rows.append([label, f"{size / 1e6:.2f} MB", f"{plain / size:.1f}x"])
    print(f"First visit to /: the index and the {files - 1} scripts and stylesheets it names")
    print(table(["Accept-Encoding", "bytes on the wire", "smaller by"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
