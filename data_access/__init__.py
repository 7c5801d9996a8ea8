"""Storage, parsing and caching of the dashboard's data. Imports neither Dash nor Flask nor gunicorn."""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath
from typing import Any

from cachelib import BaseCache, FileSystemCache, RedisCache, SimpleCache

from data_access.catalog import Dataset, DatasetCatalog, FolderLister, GCSPrefixLister
from data_access.datasets import CatalogSource, DatasetRegistry
from data_access.frame_store import FramePool
from data_access.gcs_source import (
    _METADATA_RETRY,
    _STORAGE_ERRORS,
    METADATA_TIMEOUT_SECONDS,
    GCSSource,
    GCSStaging,
    make_storage_client,
)
from data_access.live_data import CACHE_KEY_PREFIX, DataUnavailable, LiveData
from data_access.local_source import LocalFileSource, LocalStaging
from data_access.sources import DataSource, DataVersion, GenerationNotFound, StorageError, VersionConflict
from data_access.staging import Staging
from data_access.validation import Schema, SchemaError
from settings import Settings, SettingsError

log = logging.getLogger(__name__)

#: A dataset's own schema is kept in a file beside its object with this ending (``sales.schema``).
SCHEMA_SUFFIX = ".schema"
REDIS_TIMEOUTS = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}
CACHE_DEFAULT_SECONDS = 300

__all__ = [
    "CACHE_KEY_PREFIX",
    "DataUnavailable",
    "DataVersion",
    "DatasetRegistry",
    "GCSSource",
    "GenerationNotFound",
    "LiveData",
    "LocalFileSource",
    "StorageError",
    "VersionConflict",
    "build_datasets",
    "build_live_data",
    "make_cache",
    "make_redis",
    "make_storage_client",
    "staging_for",
]


def make_source(settings: Settings, client: Any = None, object_name: str = "") -> DataSource:
    """The data source the settings describe, or their ``object_name`` (a GCS client is created when not given)."""
    if settings.data_source == "local":
        return LocalFileSource(object_name or settings.default_local_file)
    if client is None:
        client = make_storage_client(settings.gcp_project, settings.storage_emulator_host)
    return GCSSource(settings.gcs_bucket, object_name or settings.gcs_blob, client, settings.storage_deadline_seconds)


def staging_for(source: DataSource) -> Staging:
    """Where uploads to ``source`` wait to be checked and published (a dataset's: beside its object)."""
    if isinstance(source, CatalogSource):
        source = source.source
    if isinstance(source, GCSSource):
        return GCSStaging(source)
    if isinstance(source, LocalFileSource):
        return LocalStaging(source)
    raise TypeError(f"no staging area for {type(source).__name__}")


def make_cache(settings: Settings, redis: Any = None) -> BaseCache:
    """The shared cache ``CACHE_TYPE`` names; ``redis`` is the client of ``CACHE_REDIS_URL`` (:func:`make_redis`)."""
    if settings.cache_type == "RedisCache":
        # A Redis that stops answering must cost a second, not a hung worker (REDIS_TIMEOUTS).
        client = redis if redis is not None else make_redis(settings)
        return RedisCache(client, default_timeout=CACHE_DEFAULT_SECONDS, key_prefix=CACHE_KEY_PREFIX)
    if settings.cache_type == "FileSystemCache":
        return FileSystemCache(str(settings.cache_dir), default_timeout=CACHE_DEFAULT_SECONDS)
    return SimpleCache(default_timeout=CACHE_DEFAULT_SECONDS)


def make_redis(settings: Settings) -> Any:
    """A redis-py client of ``CACHE_REDIS_URL`` (None without RedisCache); a wrong URL stops start-up with one line."""
    if settings.cache_type != "RedisCache":
        return None
    import redis

    client = redis.Redis.from_url(settings.cache_redis_url, **REDIS_TIMEOUTS)
    try:
        client.ping()
    except redis.RedisError as error:
        raise SettingsError(f"CACHE_REDIS_URL {settings.cache_redis_url!r} is not reachable: {error}") from None
    return client


def build_live_data(settings: Settings, client: Any = None) -> LiveData:
    """Wire source, cache and schema together as the settings say (``client``: a GCS client to reuse)."""
    schema = _schema(settings)
    redis = make_redis(settings)
    return _live_data(settings, make_source(settings, client), make_cache(settings, redis), redis, schema)


def build_datasets(settings: Settings, default: LiveData, client: Any = None) -> DatasetRegistry | None:
    """The deployment's datasets with many (``GCS_PREFIX`` or a folder), sharing ``default``'s cache, else None."""
    if not settings.many_datasets:
        return None
    if settings.data_source == "local":
        lister: Any = FolderLister(settings.local_data_path)
    else:
        if client is None:
            client = make_storage_client(settings.gcp_project, settings.storage_emulator_host)
        lister = GCSPrefixLister(settings.gcs_bucket, settings.gcs_prefix, client)
    catalog = DatasetCatalog(
        lister, settings.version_cache_seconds, shared=default.cache, key=f"catalog:{settings.data_location}"
    )

    def dataset_source(dataset: Dataset) -> DataSource:
        return make_source(settings, client, dataset.object_name)

    pool = FramePool(int(settings.frame_memory_mb * 2**20))  # every dataset's frames in one budget

    def make_live_data(dataset: Dataset, source: DataSource) -> LiveData:
        schema = _schema_beside(settings, dataset.object_name, client) or default.schema
        return _live_data(settings, source, default.cache.backend, default.cache.redis, schema, pool)

    def new_object_name(name: str) -> str:
        if settings.data_source == "local":
            return str(Path(settings.local_data_path) / f"{name}.csv")
        return f"{settings.gcs_prefix}{name}.csv"

    # A card's preview parses the whole file once: bounded like a tenth of the frame budget.
    max_summary_bytes = int(settings.frame_memory_mb * 2**20 / 10)
    return DatasetRegistry(catalog, dataset_source, make_live_data, default.cache, max_summary_bytes, new_object_name)


def schema_file_name(object_name: str) -> str:
    """Where a dataset's own schema is kept: beside its object, ``sales.csv`` → ``sales.schema``."""
    return str(PurePosixPath(object_name).with_suffix(SCHEMA_SUFFIX))


def _schema_beside(settings: Settings, object_name: str, client: Any) -> Schema | None:
    """The schema in the file beside a dataset's object, or ``None`` (none, or unusable: logged)."""
    name = schema_file_name(object_name)
    try:
        if settings.data_source == "local":
            path = Path(name)
            text = path.read_text(encoding="utf-8") if path.is_file() else None
        else:
            # Bounded like every version check: a first visit during an outage must not hold a thread.
            bounded = {"timeout": METADATA_TIMEOUT_SECONDS, "retry": _METADATA_RETRY}
            blob = client.bucket(settings.gcs_bucket).get_blob(name, **bounded)
            text = blob.download_as_text(**bounded) if blob is not None else None
        return None if text is None else _schema(settings.with_overrides(data_schema=text.strip()))
    except (OSError, UnicodeDecodeError, SettingsError, *_STORAGE_ERRORS) as error:
        log.warning("the schema beside %s cannot be used (%s): DATA_SCHEMA applies", object_name, error)
        return None


def _schema(settings: Settings) -> Schema:
    try:
        return Schema.parse(
            settings.data_schema,
            settings.max_rows,
            int(settings.frame_memory_mb * 2**20),
            max_columns=settings.max_columns,
            max_cell_chars=settings.max_cell_chars,
        )
    except SchemaError as error:
        raise SettingsError(str(error)) from None


def _live_data(
    settings: Settings, source: Any, cache: BaseCache, redis: Any, schema: Schema | None, pool: FramePool | None = None
) -> LiveData:
    return LiveData(
        source,
        cache,
        settings.version_cache_seconds,
        schema,
        frame_memory_mb=settings.frame_memory_mb,
        # A SimpleCache lives in this process: a second (Arrow) copy of each frame would only cost memory.
        share_frames=settings.cache_type != "SimpleCache",
        redis=redis,
        frame_pool=pool,
    )
