"""``/live/version`` behind a real shared HTTP cache (Debian's nginx, ``proxy_cache`` + ``proxy_cache_lock``):
however many clients check, the origin answers about once per ``max-age``."""

from __future__ import annotations

import http.client
import threading
import time

import pytest

from testinfra import NGINX, SAMPLE_CSV, Nginx, Uvicorn

WINDOW_SECONDS = 2.0


def _check_for(port: int, seconds: float, counts: list[int]) -> None:
    """One client: check /live/version over a kept-alive connection until ``seconds`` pass."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    ends = time.monotonic() + seconds
    done = 0
    while time.monotonic() < ends:
        connection.request("GET", "/live/version")
        response = connection.getresponse()
        response.read()
        assert response.status == 200
        done += 1
    connection.close()
    counts.append(done)


def _origin_requests(cache: Nginx, origin: Uvicorn, clients: int) -> tuple[int, int]:
    """(client requests, origin answers) while ``clients`` check through ``cache`` for the window."""
    counts: list[int] = []
    before = origin.answered
    threads = [threading.Thread(target=_check_for, args=(cache.port, WINDOW_SECONDS, counts)) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return sum(counts), origin.answered - before


@pytest.mark.skipif(not NGINX.exists(), reason="nginx is not installed (make system-deps installs it)")
def test_many_clients_behind_a_shared_cache_cost_the_origin_one_answer_per_period(bucket, gcs_settings, make_app):
    bucket.blob("data/data.csv").upload_from_string(SAMPLE_CSV)
    origin = Uvicorn(make_app(gcs_settings)).start()  # max-age=1
    try:
        with Nginx(origin.host) as cache:
            per_period = int(WINDOW_SECONDS) + 2  # one per second, +1 for each edge of the window
            for clients in (2, 16):
                requests_made, origin_answers = _origin_requests(cache, origin, clients)
                assert requests_made > 4 * per_period, requests_made  # the clients did check, a lot
                assert origin_answers <= per_period, (clients, requests_made, origin_answers)
            assert "HIT" in cache.cache_statuses()
    finally:
        origin.stop()
