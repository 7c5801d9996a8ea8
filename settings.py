"""The app's one settings object, built from environment variables and CLI flags (pydantic-settings).

Every field's environment variable is its name in capitals; CLI flags override the environment, and
a bad value stops start-up with one line (:class:`SettingsError`). :class:`ServerSettings` is what the
gunicorn master reads before any app exists.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self

from limits import parse_many
from pydantic import AliasChoices, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

APP_DIR = Path(__file__).resolve().parent
SAMPLE_DATA_PATH = APP_DIR / "data" / "data.csv"
#: In a data folder (``--data DIR``) the admin page publishes this file (the dataset "data").
DEFAULT_DATASET_FILE = "data.csv"

DEFAULT_SCHEMA = "first_num:numeric,second_num:numeric"
MIN_SECRET_KEY_LENGTH = 32
MAX_TITLE_CHARS = 120
# Both descriptions, the dashboard's (DASHBOARD_DESCRIPTION) and a published version's, are shown under the
# heading; a version's is stored in the object's metadata, which Cloud Storage caps at 8 KiB in all.
MAX_DESCRIPTION_CHARS = 500
# Highest MAX_COLUMNS: a wider header does not fit the bytes read before parsing (1 MiB).
MAX_COLUMNS_LIMIT = 10_000
# Highest MAX_CELL_CHARS: below the csv module's field limit (128 KiB), which locates a bad cell's line.
MAX_CELL_CHARS_LIMIT = 100_000
WEAK_SECRET_KEYS = {"changeme", "secret", "dev", "development", "password", "please-change-me"}
_BOUND_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")
# Settings people write in any case: compared in lower case.
_LOWER_CASE_FIELDS = ("app_env", "log_format", "data_source", "auth_mode", "live_push", "dashboard_service")


class SettingsError(ValueError):
    """A setting is missing or invalid; the message is one line a person can act on."""


class _EnvironmentSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping: the process's, or a test's."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        given = {name: value for name, value in self._environ.items() if value.strip()}  # blank means unset
        return parse_env_vars(given, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


class _EnvironmentSettings(BaseSettings):
    """Frozen settings read from an environment; a bad value raises :class:`SettingsError` with one line."""

    model_config = SettingsConfigDict(frozen=True, str_strip_whitespace=True, extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: Any, *_others: Any, **_named: Any
    ) -> tuple[Any, ...]:
        return (init_settings,)  # the keyword arguments only: the environment comes in through ``read``

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None, **values: Any) -> Self:
        """Settings from ``environ`` (default ``os.environ``), with ``values`` (by field name) on top."""
        found = _EnvironmentSource(cls, os.environ if environ is None else environ)()
        try:
            return cls(**{**found, **values})
        except ValidationError as error:
            raise SettingsError(cls._one_line(error)) from None

    @classmethod
    def env_names(cls) -> dict[str, tuple[str, ...]]:
        """The environment variables of each field, in the order they are looked for."""
        prefix = cls.model_config.get("env_prefix", "")
        names = {}
        for name, field in cls.model_fields.items():
            choices = getattr(field.validation_alias, "choices", None)
            names[name] = tuple(str(choice).upper() for choice in choices) if choices else (f"{prefix}{name}".upper(),)
        return names

    @classmethod
    def _one_line(cls, error: ValidationError) -> str:
        first = error.errors()[0]
        cause = first.get("ctx", {}).get("error")
        if isinstance(cause, SettingsError):
            return str(cause)
        field = str(first["loc"][0]) if first["loc"] else ""
        name = cls.env_names().get(field, (field.upper(),))[0]
        if first["type"] == "literal_error":
            return f"{name} must be {first['ctx']['expected']}, got {first['input']!r}"
        if first["type"] in _BOUND_ERRORS:
            return f"{name} must be {_bounds(cls.model_fields[field].metadata)}, got {first['input']!r}"
        return f"{name}: {first['msg']}, got {first['input']!r}"

    @field_validator("*", mode="before")
    @classmethod
    def _parse_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        kind = cls.model_fields[info.field_name].annotation
        if kind not in (int, float) or not isinstance(value, str):
            return value
        return _number(cls.env_names()[info.field_name][0], value, whole=kind is int)

    @field_validator(*_LOWER_CASE_FIELDS, mode="before", check_fields=False)
    @classmethod
    def _lower_case(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


class ServerSettings(_EnvironmentSettings):
    """What the gunicorn master needs before any app exists: where to listen and how to log."""

    host: str = "127.0.0.1"
    port: int = Field(8050, gt=0, lt=65536)
    app_env: Literal["production", "development"] = "production"
    log_format: Literal["json", "text"] = "json"  # json for Cloud Logging, text for a terminal; by APP_ENV when unset
    # App Engine sets GOOGLE_CLOUD_PROJECT; GCP_PROJECT wins when both are set.
    gcp_project: str = Field("", validation_alias=AliasChoices("gcp_project", "GOOGLE_CLOUD_PROJECT"))
    gae_env: str = ""  # set by App Engine itself

    @model_validator(mode="before")
    @classmethod
    def _default_log_format(cls, data: Any) -> Any:
        if isinstance(data, dict) and not str(data.get("log_format") or "").strip():
            app_env = str(data.get("app_env") or "production").strip().lower()
            data = {**data, "log_format": "json" if app_env == "production" else "text"}
        return data

    @property
    def on_app_engine(self) -> bool:
        return bool(self.gae_env)


class GunicornSettings(_EnvironmentSettings):
    """gunicorn's own settings (``GUNICORN_*``), read by ``gunicorn.conf.py``."""

    model_config = SettingsConfigDict(env_prefix="GUNICORN_")

    bind: str = ""
    workers: int = Field(0, validation_alias=AliasChoices("gunicorn_workers", "WEB_CONCURRENCY"))  # 0: by memory
    gae_memory_mb: int = Field(0, validation_alias=AliasChoices("gae_memory_mb"))  # set by App Engine
    worker_class: str = "asgi_worker.DashboardWorker"
    threads: int = 8
    timeout: int = 60
    graceful_timeout: int = 20
    keepalive: int = 75
    max_requests: int = 1_000_000
    max_requests_jitter: int = 100_000
    access_log: bool = True
    log_level: str = "info"


class Settings(ServerSettings):
    """Everything the app reads from its environment, validated."""

    data_source: Literal["local", "gcs"] = "gcs"
    local_data_path: Path = SAMPLE_DATA_PATH
    gcs_bucket: str = ""
    gcs_blob: str = "data/data.csv"
    gcs_prefix: str = ""  # "dashboards/": every .csv / .parquet object directly under it is a dataset
    storage_emulator_host: str = ""
    poll_interval_seconds: float = Field(5.0, ge=0.2)
    version_cache_seconds: float = Field(0.5, ge=0)
    cache_type: Literal["SimpleCache", "FileSystemCache", "RedisCache"] = "SimpleCache"
    cache_dir: Path = Path(tempfile.gettempdir()) / "live-dashboard-cache"
    cache_redis_url: str = ""
    max_chart_points: int = Field(4_000, ge=10)
    changes_key: str = ""  # "What changed": the columns that identify a row, comma-separated
    dashboard_title: str = "Live data"
    dashboard_description: str = ""
    dashboard_service: Literal["chart", "admin", "all"] = "all"  # the public chart, the admin page, or both
    # Admin page (auth, uploads)
    auth_mode: Literal["password", "iap"] = "password"
    secret_key: str = ""
    admin_users: str = ""  # "alice:<hash>,bob:<hash>"
    admin_users_file: str = ""
    admin_emails: str = ""  # IAP mode: comma-separated
    iap_audience: str = ""
    max_upload_mb: float = Field(1024.0, gt=0, le=1024)
    upload_chunk_mb: float = 64.0  # browser → storage session; local mode sends CHUNK_BYTES to the app
    max_rows: int = Field(2_000_000, ge=1)
    max_columns: int = Field(1_000, ge=1, le=MAX_COLUMNS_LIMIT)
    max_cell_chars: int = Field(32_767, ge=1, le=MAX_CELL_CHARS_LIMIT)
    frame_memory_mb: float = Field(512.0, ge=1)  # memory per worker for parsed tables
    data_schema: str = DEFAULT_SCHEMA
    login_rate_limit: str = "5 per minute;30 per hour"
    login_account_rate_limit: str = "10 per 15 minutes"  # per account and address
    login_account_wide_rate_limit: str = "100 per 15 minutes"  # per account, browsers new to it
    login_concurrency: int = Field(2, ge=1, le=64)  # each check needs ~128 MiB
    session_lifetime_hours: float = Field(12.0, gt=0, le=24 * 30)
    session_idle_minutes: float = Field(30.0, gt=0)  # at most SESSION_LIFETIME_HOURS
    max_request_kb: float = Field(1024.0, ge=1, le=64 * 1024)
    storage_deadline_seconds: float = Field(20.0, ge=1, le=600)  # below the worker timeout
    request_head_timeout_seconds: float = Field(10.0, gt=0, le=300)
    request_body_timeout_seconds: float = Field(20.0, gt=0, le=600)
    # Open connections (idle, polling or streaming) one worker serves; past it, requests get 503.
    max_connections_per_worker: int = Field(8000, ge=16, le=1_000_000)
    # Live channel: stream first, checks as fallback ("auto"), or checks only ("off", behind a CDN)
    live_push: Literal["auto", "off"] = "auto"
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
        given = {key: value for key, value in overrides.items() if value is not None}
        env = os.environ if environ is None else environ
        if not (env.get("APP_ENV") or "").strip():
            given.setdefault("app_env", default_app_env)
        return cls.read(env, **given)

    def with_overrides(self, **overrides: Any) -> Settings:
        """A validated copy with some fields replaced (used by tests and the CLI)."""
        return self.read({}, **{**self.model_dump(), **overrides})

    @model_validator(mode="after")
    def _check(self) -> Settings:
        """Raise :class:`SettingsError` on the first invalid or missing setting."""
        if self.data_source == "gcs" and not self.gcs_bucket:
            raise SettingsError(
                "DATA_SOURCE=gcs needs GCS_BUCKET (the bucket name); "
                "use --local (or DATA_SOURCE=local) to run on a file on disk"
            )
        if self.data_source == "gcs" and not self.gcs_blob:
            raise SettingsError("GCS_BLOB must name the object that holds the data, e.g. data/data.csv")
        if self.data_source == "local" and not (
            Path(self.local_data_path).is_file() or Path(self.local_data_path).is_dir()
        ):
            raise SettingsError(f"LOCAL_DATA_PATH {str(self.local_data_path)!r} is neither a file nor a folder")
        if self.gcs_prefix and (self.data_source != "gcs" or not self.gcs_prefix.endswith("/")):
            raise SettingsError("GCS_PREFIX needs DATA_SOURCE=gcs and must end with '/', e.g. dashboards/")
        if self.cache_type == "RedisCache" and not self.cache_redis_url:
            raise SettingsError("CACHE_TYPE=RedisCache needs CACHE_REDIS_URL, e.g. redis://127.0.0.1:6379/0")
        if self.cache_type == "FileSystemCache":
            try:
                Path(self.cache_dir).mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise SettingsError(f"CACHE_DIR {str(self.cache_dir)!r} cannot be created: {error.strerror}") from None
            if not os.access(self.cache_dir, os.W_OK):
                raise SettingsError(f"CACHE_DIR {str(self.cache_dir)!r} is not writable")
        if not self.dashboard_title or len(self.dashboard_title) > MAX_TITLE_CHARS:
            raise SettingsError(f"DASHBOARD_TITLE must be 1 to {MAX_TITLE_CHARS} characters")
        if len(self.dashboard_description) > MAX_DESCRIPTION_CHARS:
            raise SettingsError(f"DASHBOARD_DESCRIPTION must be at most {MAX_DESCRIPTION_CHARS} characters")
        self._validate_live()
        self._validate_admin()
        return self

    def _validate_live(self) -> None:
        subscription = re.compile(r"projects/[^/]+/subscriptions/[^/]+")
        if self.pubsub_subscription and not subscription.fullmatch(self.pubsub_subscription):
            raise SettingsError("PUBSUB_SUBSCRIPTION must look like projects/PROJECT/subscriptions/NAME")
        if bool(self.pubsub_push_audience) != bool(self.pubsub_push_service_account):
            raise SettingsError("PUBSUB_PUSH_AUDIENCE and PUBSUB_PUSH_SERVICE_ACCOUNT go together (POST /live/notify)")
        if (self.pubsub_subscription or self.pubsub_push_audience) and self.data_source != "gcs":
            raise SettingsError("PUBSUB_SUBSCRIPTION and PUBSUB_PUSH_AUDIENCE need DATA_SOURCE=gcs (notifications)")

    def _validate_admin(self) -> None:
        # GCS takes a resumable upload's chunks in multiples of 256 KiB only.
        if not (0.25 <= self.upload_chunk_mb <= 1024 and float(self.upload_chunk_mb * 4).is_integer()):
            raise SettingsError("UPLOAD_CHUNK_MB must be a multiple of 0.25 (256 KiB) from 0.25 to 1024")
        for name, limit in (
            ("LOGIN_RATE_LIMIT", self.login_rate_limit),
            ("LOGIN_ACCOUNT_RATE_LIMIT", self.login_account_rate_limit),
            ("LOGIN_ACCOUNT_WIDE_RATE_LIMIT", self.login_account_wide_rate_limit),
        ):
            try:
                parse_many(limit)
            except ValueError:
                raise SettingsError(f"{name} must look like '5 per minute;30 per hour', got {limit!r}") from None
        if self.session_idle_minutes > self.session_lifetime_hours * 60:
            raise SettingsError("SESSION_IDLE_MINUTES must be at most SESSION_LIFETIME_HOURS")
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
    def changes_key_columns(self) -> tuple[str, ...]:
        """CHANGES_KEY as column names (empty: let the roles find a key)."""
        return tuple(column.strip() for column in self.changes_key.split(",") if column.strip())

    @property
    def serves_chart(self) -> bool:
        """Whether this service serves the public chart page and its live routes."""
        return self.dashboard_service in ("chart", "all")

    @property
    def serves_admin(self) -> bool:
        """Whether this service serves the admin page, sign-in and the upload routes."""
        return self.dashboard_service in ("admin", "all")

    @property
    def many_datasets(self) -> bool:
        """Whether every data file under ``GCS_PREFIX`` (or in the ``--data`` folder) is a dataset."""
        if self.data_source == "local":
            return Path(self.local_data_path).is_dir()
        return bool(self.gcs_prefix)

    @property
    def default_local_file(self) -> Path:
        """The local file the admin page publishes to: ``--data FILE``, or ``data.csv`` in a data folder."""
        path = Path(self.local_data_path)
        return path / DEFAULT_DATASET_FILE if path.is_dir() else path

    @property
    def data_location(self) -> str:
        """Where the data lives, for people: a path or a gs:// URL."""
        if self.data_source == "local":
            return str(self.local_data_path)
        return f"gs://{self.gcs_bucket}/{self.gcs_prefix or self.gcs_blob}"


def _bounds(metadata: list[Any]) -> str:
    """A field's ``Field(ge=…, gt=…, le=…, lt=…)`` bounds in words: "at least 1 and at most 64"."""
    words = {"ge": "at least", "gt": "above", "le": "at most", "lt": "below"}
    limits = [f"{words[name]} {getattr(bound, name)}" for bound in metadata for name in words if hasattr(bound, name)]
    return " and ".join(limits)


def _number(name: str, raw: str, whole: bool) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a {'whole number' if whole else 'number'}, got {raw!r}") from None
    if not math.isfinite(value):
        raise SettingsError(f"{name} must be a finite number, got {raw!r}")
    if whole and not value.is_integer():
        raise SettingsError(f"{name} must be a whole number, got {raw!r}")
    return int(value) if whole else value
