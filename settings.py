"""The app's one settings object, built from environment variables and CLI flags.

Every setting has an environment variable (documented in the README); CLI flags
override the environment. Bad values stop start-up with one clear line
(:class:`SettingsError`), never a traceback.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from limits import parse_many

APP_DIR = Path(__file__).resolve().parent
SAMPLE_DATA_PATH = APP_DIR / "data" / "data.csv"

CACHE_TYPES = ("SimpleCache", "FileSystemCache", "RedisCache")
DATA_SOURCES = ("local", "gcs")
AUTH_MODES = ("password", "iap")
APP_ENVS = ("production", "development")
LOG_FORMATS = ("json", "text")
LIVE_PUSH_MODES = ("auto", "off")
# What one deployment serves: the public chart, the admin page, or both (make run, tests).
DASHBOARD_SERVICES = ("chart", "admin", "all")
DEFAULT_SCHEMA = "first_num:numeric,second_num:numeric"
MIN_SECRET_KEY_LENGTH = 32
MAX_TITLE_CHARS = 120
MAX_DESCRIPTION_CHARS = 2_000
# Highest MAX_COLUMNS: a wider header does not fit the bytes read before parsing (1 MiB).
MAX_COLUMNS_LIMIT = 10_000
# Highest MAX_CELL_CHARS: below the csv module's field limit (128 KiB), which locates a bad cell's line.
MAX_CELL_CHARS_LIMIT = 100_000
WEAK_SECRET_KEYS = {"changeme", "secret", "dev", "development", "password", "please-change-me"}


class SettingsError(ValueError):
    """A setting is missing or invalid; the message is one line a person can act on."""


@dataclass(frozen=True)
class Settings:
    """Everything the app reads from its environment, validated."""

    data_source: str = "gcs"
    local_data_path: Path = SAMPLE_DATA_PATH
    gcs_bucket: str = ""
    gcs_blob: str = "data/data.csv"
    gcp_project: str = ""
    storage_emulator_host: str = ""
    poll_interval_seconds: float = 5.0
    version_cache_seconds: float = 0.5
    cache_type: str = "SimpleCache"
    cache_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "live-dashboard-cache")
    cache_redis_url: str = ""
    max_chart_points: int = 4_000
    dashboard_title: str = "Live data"
    dashboard_description: str = ""
    host: str = "127.0.0.1"
    port: int = 8050
    dashboard_service: str = "all"
    # Admin page (auth, uploads)
    app_env: str = "production"
    auth_mode: str = "password"
    secret_key: str = ""
    admin_users: str = ""  # "alice:<hash>,bob:<hash>"
    admin_users_file: str = ""
    admin_emails: str = ""  # IAP mode: comma-separated
    iap_audience: str = ""
    max_upload_mb: float = 1024.0
    upload_chunk_mb: float = 64.0  # browser → storage session; local mode sends CHUNK_BYTES to the app
    max_rows: int = 2_000_000
    max_columns: int = 1_000
    max_cell_chars: int = 32_767
    frame_memory_mb: float = 512.0
    data_schema: str = DEFAULT_SCHEMA
    login_rate_limit: str = "5 per minute;30 per hour"
    login_account_rate_limit: str = "10 per 15 minutes"  # per account and address
    login_account_wide_rate_limit: str = "100 per 15 minutes"  # per account, browsers new to it
    login_concurrency: int = 2
    session_lifetime_hours: float = 12.0
    session_idle_minutes: float = 30.0
    max_request_kb: float = 1024.0
    storage_deadline_seconds: float = 20.0
    request_head_timeout_seconds: float = 10.0
    request_body_timeout_seconds: float = 20.0
    # Open connections (idle, polling or streaming) one worker serves; past it, requests get 503.
    max_connections_per_worker: int = 8000
    log_format: str = "json"  # json for Cloud Logging, text for a terminal
    # Live channel: stream first, checks as fallback ("auto"), or checks only ("off", behind a CDN)
    live_push: str = "auto"
    pubsub_subscription: str = ""  # projects/P/subscriptions/S: pull the bucket's notifications
    pubsub_push_audience: str = ""  # POST /live/notify: the push subscription's OIDC audience
    pubsub_push_service_account: str = ""  # ... and the service account its tokens must name

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, default_app_env: str = "production", **overrides: Any
    ) -> Settings:
        """Build settings from ``environ`` (default ``os.environ``), then apply ``overrides``.

        ``overrides`` are CLI flags; ``None`` values mean "flag not given". ``default_app_env``
        is what APP_ENV means when unset: production under gunicorn, development for ``app.py``.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {
            "data_source": env.get("DATA_SOURCE", cls.data_source).strip().lower(),
            "local_data_path": Path(env.get("LOCAL_DATA_PATH", str(SAMPLE_DATA_PATH))),
            "gcs_bucket": env.get("GCS_BUCKET", "").strip(),
            "gcs_blob": env.get("GCS_BLOB", cls.gcs_blob).strip(),
            "gcp_project": env.get("GCP_PROJECT", env.get("GOOGLE_CLOUD_PROJECT", "")).strip(),
            "storage_emulator_host": env.get("STORAGE_EMULATOR_HOST", "").strip(),
            "poll_interval_seconds": _number(env, "POLL_INTERVAL_SECONDS", cls.poll_interval_seconds),
            "version_cache_seconds": _number(env, "VERSION_CACHE_SECONDS", cls.version_cache_seconds),
            "cache_type": env.get("CACHE_TYPE", cls.cache_type).strip(),
            "cache_redis_url": env.get("CACHE_REDIS_URL", "").strip(),
            "max_chart_points": int(_number(env, "MAX_CHART_POINTS", cls.max_chart_points)),
            "dashboard_title": env.get("DASHBOARD_TITLE", cls.dashboard_title).strip(),
            "dashboard_description": env.get("DASHBOARD_DESCRIPTION", "").strip(),
            "host": env.get("HOST", cls.host).strip(),
            "port": int(_number(env, "PORT", cls.port)),
            "dashboard_service": env.get("DASHBOARD_SERVICE", cls.dashboard_service).strip().lower(),
            "app_env": env.get("APP_ENV", default_app_env).strip().lower(),
            "auth_mode": env.get("AUTH_MODE", cls.auth_mode).strip().lower(),
            "secret_key": env.get("SECRET_KEY", ""),
            "admin_users": env.get("ADMIN_USERS", "").strip(),
            "admin_users_file": env.get("ADMIN_USERS_FILE", "").strip(),
            "admin_emails": env.get("ADMIN_EMAILS", "").strip(),
            "iap_audience": env.get("IAP_AUDIENCE", "").strip(),
            "max_upload_mb": _number(env, "MAX_UPLOAD_MB", cls.max_upload_mb),
            "upload_chunk_mb": _number(env, "UPLOAD_CHUNK_MB", cls.upload_chunk_mb),
            "max_rows": int(_number(env, "MAX_ROWS", cls.max_rows)),
            "max_columns": int(_number(env, "MAX_COLUMNS", cls.max_columns)),
            "max_cell_chars": int(_number(env, "MAX_CELL_CHARS", cls.max_cell_chars)),
            "frame_memory_mb": _number(env, "FRAME_MEMORY_MB", cls.frame_memory_mb),
            "data_schema": env.get("DATA_SCHEMA", cls.data_schema).strip(),
            "login_rate_limit": env.get("LOGIN_RATE_LIMIT", cls.login_rate_limit).strip(),
            "login_account_rate_limit": env.get("LOGIN_ACCOUNT_RATE_LIMIT", cls.login_account_rate_limit).strip(),
            "login_account_wide_rate_limit": env.get(
                "LOGIN_ACCOUNT_WIDE_RATE_LIMIT", cls.login_account_wide_rate_limit
            ).strip(),
            "login_concurrency": int(_number(env, "LOGIN_CONCURRENCY", cls.login_concurrency)),
            "session_lifetime_hours": _number(env, "SESSION_LIFETIME_HOURS", cls.session_lifetime_hours),
            "session_idle_minutes": _number(env, "SESSION_IDLE_MINUTES", cls.session_idle_minutes),
            "max_request_kb": _number(env, "MAX_REQUEST_KB", cls.max_request_kb),
            "storage_deadline_seconds": _number(env, "STORAGE_DEADLINE_SECONDS", cls.storage_deadline_seconds),
            "live_push": env.get("LIVE_PUSH", cls.live_push).strip().lower(),
            "pubsub_subscription": env.get("PUBSUB_SUBSCRIPTION", "").strip(),
            "pubsub_push_audience": env.get("PUBSUB_PUSH_AUDIENCE", "").strip(),
            "pubsub_push_service_account": env.get("PUBSUB_PUSH_SERVICE_ACCOUNT", "").strip(),
            "request_head_timeout_seconds": _number(
                env, "REQUEST_HEAD_TIMEOUT_SECONDS", cls.request_head_timeout_seconds
            ),
            "request_body_timeout_seconds": _number(
                env, "REQUEST_BODY_TIMEOUT_SECONDS", cls.request_body_timeout_seconds
            ),
            "max_connections_per_worker": int(
                _number(env, "MAX_CONNECTIONS_PER_WORKER", cls.max_connections_per_worker)
            ),
        }
        values["log_format"] = log_format_from_env(env, values["app_env"])
        if env.get("CACHE_DIR"):
            values["cache_dir"] = Path(env["CACHE_DIR"])
        values.update({key: value for key, value in overrides.items() if value is not None})
        settings = cls(**values)
        settings.validate()
        return settings

    def with_overrides(self, **overrides: Any) -> Settings:
        """A validated copy with some fields replaced (used by tests and the CLI)."""
        settings = replace(self, **overrides)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise :class:`SettingsError` on the first invalid or missing setting."""
        if self.data_source not in DATA_SOURCES:
            raise SettingsError(f"DATA_SOURCE must be 'local' or 'gcs', got {self.data_source!r}")
        if self.data_source == "gcs" and not self.gcs_bucket:
            raise SettingsError(
                "DATA_SOURCE=gcs needs GCS_BUCKET (the bucket name); "
                "use --local (or DATA_SOURCE=local) to run on a file on disk"
            )
        if self.data_source == "gcs" and not self.gcs_blob:
            raise SettingsError("GCS_BLOB must name the object that holds the data, e.g. data/data.csv")
        if self.data_source == "local" and not Path(self.local_data_path).is_file():
            raise SettingsError(f"LOCAL_DATA_PATH {str(self.local_data_path)!r} is not a file")
        if self.poll_interval_seconds < 0.2:
            raise SettingsError("POLL_INTERVAL_SECONDS must be at least 0.2")
        if self.version_cache_seconds < 0:
            raise SettingsError("VERSION_CACHE_SECONDS must not be negative")
        if self.cache_type not in CACHE_TYPES:
            raise SettingsError(f"CACHE_TYPE must be one of {', '.join(CACHE_TYPES)}, got {self.cache_type!r}")
        if self.cache_type == "RedisCache" and not self.cache_redis_url:
            raise SettingsError("CACHE_TYPE=RedisCache needs CACHE_REDIS_URL, e.g. redis://127.0.0.1:6379/0")
        if self.cache_type == "FileSystemCache":
            try:
                Path(self.cache_dir).mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise SettingsError(f"CACHE_DIR {str(self.cache_dir)!r} cannot be created: {error.strerror}") from None
            if not os.access(self.cache_dir, os.W_OK):
                raise SettingsError(f"CACHE_DIR {str(self.cache_dir)!r} is not writable")
        if self.frame_memory_mb < 1:
            raise SettingsError("FRAME_MEMORY_MB must be at least 1 (memory per worker for parsed tables)")
        if not 1 <= self.storage_deadline_seconds <= 600:
            raise SettingsError("STORAGE_DEADLINE_SECONDS must be between 1 and 600 (keep it below the worker timeout)")
        if self.max_chart_points < 10:
            raise SettingsError("MAX_CHART_POINTS must be at least 10")
        if self.log_format not in LOG_FORMATS:
            raise SettingsError(f"LOG_FORMAT must be 'json' or 'text', got {self.log_format!r}")
        if not self.dashboard_title or len(self.dashboard_title) > MAX_TITLE_CHARS:
            raise SettingsError(f"DASHBOARD_TITLE must be 1 to {MAX_TITLE_CHARS} characters")
        if len(self.dashboard_description) > MAX_DESCRIPTION_CHARS:
            raise SettingsError(f"DASHBOARD_DESCRIPTION must be at most {MAX_DESCRIPTION_CHARS} characters")
        if self.dashboard_service not in DASHBOARD_SERVICES:
            raise SettingsError(f"DASHBOARD_SERVICE must be 'chart', 'admin' or 'all', got {self.dashboard_service!r}")
        self._validate_live()
        if not 0 < self.port < 65536:
            raise SettingsError(f"PORT must be between 1 and 65535, got {self.port}")
        self._validate_admin()

    def _validate_live(self) -> None:
        if self.live_push not in LIVE_PUSH_MODES:
            raise SettingsError(f"LIVE_PUSH must be 'auto' or 'off', got {self.live_push!r}")
        subscription = re.compile(r"projects/[^/]+/subscriptions/[^/]+")
        if self.pubsub_subscription and not subscription.fullmatch(self.pubsub_subscription):
            raise SettingsError("PUBSUB_SUBSCRIPTION must look like projects/PROJECT/subscriptions/NAME")
        if bool(self.pubsub_push_audience) != bool(self.pubsub_push_service_account):
            raise SettingsError("PUBSUB_PUSH_AUDIENCE and PUBSUB_PUSH_SERVICE_ACCOUNT go together (POST /live/notify)")
        if (self.pubsub_subscription or self.pubsub_push_audience) and self.data_source != "gcs":
            raise SettingsError("PUBSUB_SUBSCRIPTION and PUBSUB_PUSH_AUDIENCE need DATA_SOURCE=gcs (notifications)")

    def _validate_admin(self) -> None:
        if self.app_env not in APP_ENVS:
            raise SettingsError(f"APP_ENV must be 'production' or 'development', got {self.app_env!r}")
        if self.auth_mode not in AUTH_MODES:
            raise SettingsError(f"AUTH_MODE must be 'password' or 'iap', got {self.auth_mode!r}")
        if not 0 < self.max_upload_mb <= 1024:
            raise SettingsError("MAX_UPLOAD_MB must be between 0 and 1024")
        # GCS takes a resumable upload's chunks in multiples of 256 KiB only.
        if not (0.25 <= self.upload_chunk_mb <= 1024 and float(self.upload_chunk_mb * 4).is_integer()):
            raise SettingsError("UPLOAD_CHUNK_MB must be a multiple of 0.25 (256 KiB) from 0.25 to 1024")
        if not 1 <= self.max_request_kb <= 64 * 1024:
            raise SettingsError("MAX_REQUEST_KB must be between 1 and 65536")
        if not 0 < self.request_head_timeout_seconds <= 300 or not 0 < self.request_body_timeout_seconds <= 600:
            raise SettingsError(
                "REQUEST_HEAD_TIMEOUT_SECONDS must be in (0, 300] and REQUEST_BODY_TIMEOUT_SECONDS in (0, 600]"
            )
        if not 16 <= self.max_connections_per_worker <= 1_000_000:
            raise SettingsError("MAX_CONNECTIONS_PER_WORKER must be between 16 and 1000000")
        if self.max_rows < 1:
            raise SettingsError("MAX_ROWS must be at least 1")
        if not 1 <= self.max_columns <= MAX_COLUMNS_LIMIT:
            raise SettingsError(f"MAX_COLUMNS must be between 1 and {MAX_COLUMNS_LIMIT:,}")
        if not 1 <= self.max_cell_chars <= MAX_CELL_CHARS_LIMIT:
            raise SettingsError(f"MAX_CELL_CHARS must be between 1 and {MAX_CELL_CHARS_LIMIT:,}")
        for name, limit in (
            ("LOGIN_RATE_LIMIT", self.login_rate_limit),
            ("LOGIN_ACCOUNT_RATE_LIMIT", self.login_account_rate_limit),
            ("LOGIN_ACCOUNT_WIDE_RATE_LIMIT", self.login_account_wide_rate_limit),
        ):
            try:
                parse_many(limit)
            except ValueError:
                raise SettingsError(f"{name} must look like '5 per minute;30 per hour', got {limit!r}") from None
        if not 1 <= self.login_concurrency <= 64:
            raise SettingsError("LOGIN_CONCURRENCY must be between 1 and 64 (each check needs ~128 MiB)")
        if not 0 < self.session_lifetime_hours <= 24 * 30:
            raise SettingsError("SESSION_LIFETIME_HOURS must be between 0 and 720")
        if not 0 < self.session_idle_minutes <= self.session_lifetime_hours * 60:
            raise SettingsError("SESSION_IDLE_MINUTES must be above 0 and at most SESSION_LIFETIME_HOURS")
        if self.auth_mode == "iap" and not self.iap_audience:
            raise SettingsError("AUTH_MODE=iap needs IAP_AUDIENCE, e.g. /projects/NUMBER/apps/PROJECT_ID")
        if self.auth_mode == "iap" and not self.admin_emails:
            raise SettingsError("AUTH_MODE=iap needs ADMIN_EMAILS (comma-separated admin e-mail addresses)")
        if self.admin_users_file and not Path(self.admin_users_file).is_file():
            raise SettingsError(f"ADMIN_USERS_FILE {self.admin_users_file!r} is not a file")
        if self.app_env == "production":
            self._validate_production()

    def _validate_production(self) -> None:
        key = self.secret_key
        if len(key) < MIN_SECRET_KEY_LENGTH or key.lower() in WEAK_SECRET_KEYS or len(set(key)) < 8:
            raise SettingsError(
                f"APP_ENV=production needs a strong SECRET_KEY (at least {MIN_SECRET_KEY_LENGTH} random characters, "
                "e.g. from: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        if self.serves_admin and self.auth_mode == "password" and not (self.admin_users or self.admin_users_file):
            raise SettingsError(
                "APP_ENV=production needs an admin: set ADMIN_USERS (name:hash from `python app.py hash-password`) "
                "or ADMIN_USERS_FILE"
            )

    @property
    def serves_chart(self) -> bool:
        """Whether this service serves the public chart page and its live routes."""
        return self.dashboard_service in ("chart", "all")

    @property
    def serves_admin(self) -> bool:
        """Whether this service serves the admin page, sign-in and the upload routes."""
        return self.dashboard_service in ("admin", "all")

    @property
    def data_location(self) -> str:
        """Where the data lives, for people: a path or a gs:// URL."""
        if self.data_source == "local":
            return str(self.local_data_path)
        return f"gs://{self.gcs_bucket}/{self.gcs_blob}"


def log_format_from_env(env: Mapping[str, str], app_env: str) -> str:
    """LOG_FORMAT, defaulting to JSON lines in production and plain text in development.

    Also read by gunicorn.conf.py's logger, before the app's settings exist.
    """
    default = "json" if app_env == "production" else "text"
    return env.get("LOG_FORMAT", "").strip().lower() or default


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise SettingsError(f"{name} must be a finite number, got {raw!r}")
    return value


def current_settings() -> Settings:
    """The settings of the app serving the current request."""
    from flask import current_app

    return current_app.config["DASHBOARD_SETTINGS"]
