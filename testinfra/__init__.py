"""Real servers and request helpers shared by ``tests/`` and ``bench/``: one helper per server.

Every server starts on 127.0.0.1 on a free port and is stopped by the PID it started
(context managers: ``with FakeGCS() as gcs: ...``).

* :class:`FakeGCS` — fake-gcs-server in memory (``testinfra.fake_gcs``);
* :class:`RedisServer` — Debian's redis-server (``testinfra.redis_server``);
* :class:`Gunicorn` — the app as deployed, gunicorn with uvicorn workers (``testinfra.gunicorn_server``);
* :class:`Uvicorn` — an app built in this process behind uvicorn (``testinfra.uvicorn_server``);
* :class:`Nginx` — nginx as a shared HTTP cache (``testinfra.nginx``);
* :class:`PubSubEmulator` — the Google Cloud CLI's Pub/Sub emulator (``testinfra.pubsub``);
* :class:`TcpProxy`, :class:`CuttingProxy`, :class:`GenerationMatchProxy` — faults and the missing
  precondition in front of a server (``testinfra.proxies``).

``testinfra.dash_requests`` calls the app as the browser does; ``testinfra.dash_registry`` resets
Dash's global registries between apps built in one process.
"""

from testinfra.fake_gcs import FakeGCS, emulator_client
from testinfra.gunicorn_server import Gunicorn, gcs_env
from testinfra.nginx import NGINX, Nginx
from testinfra.processes import REPO, free_port
from testinfra.proxies import CuttingProxy, GenerationMatchProxy, TcpProxy
from testinfra.pubsub import PubSubEmulator
from testinfra.redis_server import RedisServer
from testinfra.sample_data import SAMPLE_CSV
from testinfra.uvicorn_server import Uvicorn

__all__ = [
    "NGINX",
    "REPO",
    "SAMPLE_CSV",
    "CuttingProxy",
    "FakeGCS",
    "GenerationMatchProxy",
    "Gunicorn",
    "Nginx",
    "PubSubEmulator",
    "RedisServer",
    "TcpProxy",
    "Uvicorn",
    "emulator_client",
    "free_port",
    "gcs_env",
]
