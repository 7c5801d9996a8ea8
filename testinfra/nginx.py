"""Debian's nginx as a shared HTTP cache (``proxy_cache``) in front of a server."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from testinfra.processes import end_process, free_port, port_open, wait_until

NGINX = Path("/usr/sbin/nginx")
NGINX_CONFIG = """
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
worker_rlimit_nofile 65536;
events {{ worker_connections 30000; }}
http {{
    log_format upstream '$request_uri $status $upstream_cache_status';
    access_log {prefix}/access.log upstream;
    proxy_cache_path {prefix}/cache keys_zone=live:1m max_size=16m;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://{upstream};
            proxy_http_version 1.1;
            proxy_cache live;
            proxy_cache_lock on;
            proxy_cache_use_stale updating;  # an expired entry: one request renews it, the rest get it meanwhile
            proxy_cache_revalidate on;
            proxy_buffering on;
        }}
        location /live/events {{
            proxy_pass http://{upstream};
            proxy_http_version 1.1;
            proxy_buffering off;
            proxy_read_timeout 1h;
        }}
    }}
}}
"""


class Nginx:
    """Debian's nginx as a shared HTTP cache in front of ``upstream`` (host:port), honouring Cache-Control."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.prefix = Path(tempfile.mkdtemp(prefix="nginx-"))
        self.process: subprocess.Popen | None = None

    def start(self) -> Nginx:
        # Run as root, nginx's workers drop to "nobody": they must be able to write the cache.
        self.prefix.chmod(0o777)
        config = self.prefix / "nginx.conf"
        config.write_text(NGINX_CONFIG.format(prefix=self.prefix, port=self.port, upstream=self.upstream))
        command = [str(NGINX), "-p", str(self.prefix), "-c", str(config), "-g", "daemon off;"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: port_open(self.port), 10, "nginx")
        return self

    def cache_statuses(self) -> list[str]:
        """``$upstream_cache_status`` of every request so far (MISS, HIT, EXPIRED, REVALIDATED…)."""
        path = self.prefix / "access.log"
        return [line.split()[-1] for line in path.read_text().splitlines()] if path.exists() else []

    def stop(self) -> None:
        end_process(self.process, 5)
        shutil.rmtree(self.prefix, ignore_errors=True)

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
