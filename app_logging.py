"""Logs an operator can filter: ``LOG_FORMAT=json`` lines for Cloud Logging (severity, trace, ``httpRequest``,
``extra=`` fields), or ``LOG_FORMAT=text`` (``time LEVEL logger: message key=value …``) for a terminal.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from flask import has_request_context, request
from gunicorn import glogging
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from settings import ServerSettings, SettingsError

TRACE_HEADER = "X-Cloud-Trace-Context"
TRACE_FIELD = "logging.googleapis.com/trace"
SPAN_FIELD = "logging.googleapis.com/spanId"
SAMPLED_FIELD = "logging.googleapis.com/trace_sampled"
# What the access line passes for the trace fields, never logged as a field itself.
TRACE_HEADER_ATTR = "trace_header"
# Attributes a LogRecord always has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(RESERVED_ATTRS) | {"message", "asctime", "taskName", TRACE_HEADER_ATTR}


def trace_fields(header: str | None, project: str) -> dict[str, Any]:
    """Cloud Logging's trace fields from an ``X-Cloud-Trace-Context: TRACE/SPAN;o=1`` header."""
    if not header or not project:
        return {}
    trace_id, _, rest = header.partition("/")
    trace_id = trace_id.strip()
    if not trace_id.isalnum() or len(trace_id) > 64:
        return {}  # a forged or garbled header: leave it out rather than log it as a trace
    fields: dict[str, Any] = {TRACE_FIELD: f"projects/{project}/traces/{trace_id}"}
    span, _, options = rest.partition(";")
    if span.isdigit():
        fields[SPAN_FIELD] = span
    if options:
        fields[SAMPLED_FIELD] = options.strip() == "o=1"
    return fields


class CloudLoggingFormatter(JsonFormatter):
    """One JSON object per record, in the shape Cloud Logging's structured logging reads."""

    def __init__(self, project: str = "") -> None:
        super().__init__("%(message)s", timestamp="time", reserved_attrs=[*RESERVED_ATTRS, TRACE_HEADER_ATTR])
        self.project = project

    def add_fields(self, log_record: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_record, record, message_dict)
        log_record["severity"] = record.levelname
        log_record["logger"] = record.name
        if record.exc_info and "exc_info" in log_record:
            # Error Reporting picks a stack trace up from this field.
            log_record["stack_trace"] = log_record.pop("exc_info")
        header = getattr(record, TRACE_HEADER_ATTR, None)  # an access line's; else the Flask request's, if any
        if header is None and has_request_context():
            header = request.headers.get(TRACE_HEADER)
        log_record.update(trace_fields(header, self.project))


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message key=value …`` — the ``extra=`` fields appended, for terminals."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {key: value for key, value in record.__dict__.items() if key not in _STANDARD_ATTRS}
        return " ".join([line, *(f"{key}={value}" for key, value in extras.items())])


def make_formatter(log_format: str, project: str = "") -> logging.Formatter:
    """The formatter ``LOG_FORMAT`` names (``json`` or ``text``, checked by the settings)."""
    return CloudLoggingFormatter(project) if log_format == "json" else TextFormatter()


def configure_logging(log_format: str, project: str = "", level: int = logging.INFO) -> None:
    """Send every log record (the app's, Dash's, werkzeug's) to stdout in ``log_format`` (``project``: GCP_PROJECT)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(make_formatter(log_format, project))
    logging.basicConfig(level=level, handlers=[handler], force=True)


class GunicornLogger(glogging.Logger):
    """gunicorn's own logger in our format; each access line carries Cloud Logging's ``httpRequest``."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        try:
            server = ServerSettings.read()
        except SettingsError as error:
            raise SystemExit(f"live-dashboard: {error}") from None
        formatter = make_formatter(server.log_format, server.gcp_project)
        for logger in (self.error_log, self.access_log):
            for handler in logger.handlers:
                handler.setFormatter(formatter)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.cfg.accesslog:
            return
        status = resp.status_code
        path = environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        latency = request_time.total_seconds()
        http_request = {
            "requestMethod": environ.get("REQUEST_METHOD", ""),
            "requestUrl": f"{path}?{query}" if query else path,
            "status": status,
            "responseSize": str(resp.sent or 0),
            "userAgent": environ.get("HTTP_USER_AGENT", ""),
            "remoteIp": environ.get("REMOTE_ADDR", ""),
            "protocol": environ.get("SERVER_PROTOCOL", ""),
            "latency": f"{latency:.6f}s",
        }
        self.access_log.info(
            "%s %s %s",
            http_request["requestMethod"],
            http_request["requestUrl"],
            status,
            extra={"httpRequest": http_request, TRACE_HEADER_ATTR: environ.get("HTTP_X_CLOUD_TRACE_CONTEXT")},
        )
