"""Storage, parsing and caching of the dashboard's data. Imports nothing from Dash."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app
from flask_caching import Cache

from data_access.gcs_source import GCSSource, GCSStaging, make_storage_client
from data_access.live_data import DataUnavailable, LiveData, VersionCheck
from data_access.local_source import LocalFileSource, LocalStaging
from data_access.sources import DataSource, DataVersion, GenerationNotFound, StorageError, VersionConflict
from data_access.staging import Staging
from data_access.validation import Schema, SchemaError
from settings import Settings, SettingsError

REDIS_TIMEOUTS = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}

__all__ = [
    "DataSource",
    "DataUnavailable",
    "DataVersion",
    "GCSSource",
    "GenerationNotFound",
    "LiveData",
    "LocalFileSource",
    "StorageError",
    "VersionCheck",
    "VersionConflict",
    "build_live_data",
    "current_live_data",
    "make_cache",
    "make_redis",
    "make_source",
    "make_storage_client",
    "staging_for",
]


def make_source(settings: Settings, client: Any = None) -> DataSource:
    """The data source the settings describe (a GCS client is created when not given)."""
    if settings.data_source == "local":
        return LocalFileSource(settings.local_data_path)
    if client is None:
        client = make_storage_client(settings.gcp_project, settings.storage_emulator_host)
    return GCSSource(settings.gcs_bucket, settings.gcs_blob, client, settings.storage_deadline_seconds)


def staging_for(source: DataSource) -> Staging:
    """Where uploads to ``source`` wait to be checked and published."""
    if isinstance(source, GCSSource):
        return GCSStaging(source)
    if isinstance(source, LocalFileSource):
        return LocalStaging(source)
    raise TypeError(f"no staging area for {type(source).__name__}")


def make_cache(settings: Settings, server: Flask) -> Cache:
    """The shared flask-caching backend chosen by ``CACHE_TYPE``."""
    config: dict[str, Any] = {"CACHE_TYPE": settings.cache_type, "CACHE_DEFAULT_TIMEOUT": 300}
    if settings.cache_type == "FileSystemCache":
        config["CACHE_DIR"] = str(settings.cache_dir)
    if settings.cache_type == "RedisCache":
        config["CACHE_REDIS_URL"] = settings.cache_redis_url
        # A Redis that stops answering must cost a second, not a hung worker.
        config["CACHE_OPTIONS"] = dict(REDIS_TIMEOUTS)
    # Keys carry the data location; a prefix keeps them apart from other apps sharing a Redis.
    config["CACHE_KEY_PREFIX"] = "live-dashboard:"
    return Cache(server, config=config)


def make_redis(settings: Settings) -> Any:
    """A redis-py client of ``CACHE_REDIS_URL`` (for owned locks), or ``None`` without RedisCache.

    A wrong CACHE_REDIS_URL stops start-up with one line instead of failing every request.
    """
    if settings.cache_type != "RedisCache":
        return None
    import redis

    client = redis.Redis.from_url(settings.cache_redis_url, **REDIS_TIMEOUTS)
    try:
        client.ping()
    except redis.RedisError as error:
        raise SettingsError(f"CACHE_REDIS_URL {settings.cache_redis_url!r} is not reachable: {error}") from None
    return client


def build_live_data(settings: Settings, server: Flask, client: Any = None) -> LiveData:
    """Wire source, cache and schema together as the settings say, and attach them to ``server``."""
    try:
        schema = Schema.parse(
            settings.data_schema,
            settings.max_rows,
            int(settings.frame_memory_mb * 2**20),
            max_columns=settings.max_columns,
            max_cell_chars=settings.max_cell_chars,
        )
    except SchemaError as error:
        raise SettingsError(str(error)) from None
    source = make_source(settings, client)
    live_data = LiveData(
        source,
        make_cache(settings, server),
        settings.version_cache_seconds,
        schema,
        frame_memory_mb=settings.frame_memory_mb,
        # A SimpleCache lives in this process: a second (Arrow) copy of each frame would only cost memory.
        share_frames=settings.cache_type != "SimpleCache",
        redis=make_redis(settings),
    )
    server.extensions["live_data"] = live_data
    return live_data


def current_live_data() -> LiveData:
    """The :class:`LiveData` of the app serving the current request."""
    return current_app.extensions["live_data"]
