"""The production worker with every take-up GET answered by Flask in a thread: the burst benchmarks' baseline.

``GUNICORN_WORKER_CLASS=bench.flask_take_up_worker.FlaskTakeUpWorker`` (``gunicorn.conf.py``)
serves the app as before take-up GETs were answered on the event loop; nothing else differs.
"""

from __future__ import annotations

from asgi_worker import DashboardWorker

#: What ``GUNICORN_WORKER_CLASS`` names to run this worker.
WORKER_CLASS = "bench.flask_take_up_worker.FlaskTakeUpWorker"


class FlaskTakeUpWorker(DashboardWorker):
    """:class:`asgi_worker.DashboardWorker` without :class:`routes.take_up.KeptTakeUps`."""

    keep_take_ups = False
