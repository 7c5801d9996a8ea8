"""The datasets of a deployment: every ``.csv`` / ``.parquet`` object directly under a prefix.

One listing returns every object's generation and metadata: one list call per period, whatever the audience.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from data_access.gcs_source import _METADATA_RETRY, _STORAGE_ERRORS, METADATA_TIMEOUT_SECONDS, _describe, _version_of
from data_access.local_source import LocalFileSource
from data_access.sources import DataVersion, LocationMissing, StorageError

log = logging.getLogger(__name__)

#: File name endings that make an object a dataset (the name is what comes before).
DATASET_SUFFIXES = (".csv", ".parquet")
#: A dataset name is one URL path segment (``/d/<name>``): letters, digits, ``.``, ``_``, ``-``.
DATASET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


@dataclass(frozen=True)
class Dataset:
    """One dataset as the last listing saw it: its name, where it lives, and its live version."""

    name: str
    object_name: str
    version: DataVersion

    @property
    def description(self) -> str:
        """The ``description`` kept in the object's metadata (empty when there is none)."""
        return self.version.metadata.get("description", "")


def dataset_name(object_name: str) -> str | None:
    """The dataset an object or file name stands for, or ``None`` when it is not a dataset."""
    path = PurePosixPath(object_name)
    if path.suffix.lower() not in DATASET_SUFFIXES:
        return None
    if not DATASET_NAME.fullmatch(path.stem):
        _say_once(f"{object_name} is not shown: a dataset name is letters, digits, '.', '_' or '-' (up to 100)")
        return None
    return path.stem


@functools.lru_cache(maxsize=1_024)
def _say_once(message: str) -> None:
    """Log ``message`` once per process: listings repeat every period, their warnings need not."""
    log.warning(message)


def _by_name(datasets: list[Dataset]) -> dict[str, Dataset]:
    """Datasets keyed by name; of two objects with one name (``a.csv``, ``a.parquet``) the first in order wins."""
    named: dict[str, Dataset] = {}
    for dataset in sorted(datasets, key=lambda each: each.object_name):
        if dataset.name in named:
            kept = named[dataset.name].object_name
            _say_once(f"{kept} and {dataset.object_name} both name dataset {dataset.name!r}: showing the first")
            continue
        named[dataset.name] = dataset
    return named


class GCSPrefixLister:
    """The objects directly under a prefix of one bucket, in one list call (no nested folders)."""

    def __init__(self, bucket: str, prefix: str, client: Any) -> None:
        self.prefix = prefix
        self._bucket = client.bucket(bucket)
        self._client = client

    def list_datasets(self) -> dict[str, Dataset]:
        try:
            blobs = list(
                self._client.list_blobs(
                    self._bucket,
                    prefix=self.prefix,
                    delimiter="/",
                    timeout=METADATA_TIMEOUT_SECONDS,
                    retry=_METADATA_RETRY,
                )
            )
        except _STORAGE_ERRORS as error:
            if getattr(error, "code", None) == 404:
                raise LocationMissing("the storage bucket does not exist") from error
            log.warning("listing gs://%s/%s failed: %s", self._bucket.name, self.prefix, error)
            raise StorageError(f"storage could not be listed ({_describe(error)})") from error
        found = []
        for blob in blobs:
            name = dataset_name(blob.name[len(self.prefix) :])
            if name is not None:
                found.append(Dataset(name=name, object_name=blob.name, version=_version_of(blob)))
        return _by_name(found)


class FolderLister:
    """The data files directly in one local folder (``--data DIR``): a ``stat`` each, no reads."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder).resolve()

    def list_datasets(self) -> dict[str, Dataset]:
        try:
            paths = [path for path in self.folder.iterdir() if path.is_file()]
        except OSError as error:
            raise StorageError(f"cannot read the data folder: {error.strerror}") from error
        found = []
        for path in paths:
            name = dataset_name(path.name)
            version = LocalFileSource(path).current_version() if name else None
            if name is not None and version is not None:
                found.append(Dataset(name=name, object_name=str(path), version=version))
        return _by_name(found)


class DatasetCatalog:
    """The last listing, reused for ``refresh_seconds``; a failed one is raised to that period's readers.

    With ``shared`` (a ResilientCache) one process per period lists for the deployment and stores the result.
    """

    def __init__(
        self,
        lister: GCSPrefixLister | FolderLister,
        refresh_seconds: float,
        clock: Callable[[], float] = time.time,
        shared: Any = None,
        key: str = "catalog",
    ) -> None:
        self.lister = lister
        self.refresh_seconds = refresh_seconds
        self.shared = shared
        self._clock = clock
        self._key = key
        self._lock = threading.Lock()
        self._listed_at: float | None = None
        self._datasets: dict[str, Dataset] = {}
        self._error: StorageError | None = None

    def datasets(self) -> dict[str, Dataset]:
        """Every dataset by name, at most about ``refresh_seconds`` old."""
        with self._lock:
            now = self._clock()
            if self._listed_at is None or now - self._listed_at >= self.refresh_seconds:
                self._refresh(now)
            if self._error is not None:
                raise self._error
            return dict(self._datasets)

    def last_known(self) -> tuple[dict[str, Dataset], StorageError | None]:
        """Every dataset as last listed, and why the latest listing failed (``None`` when it worked)."""
        try:
            return self.datasets(), None
        except StorageError as error:
            with self._lock:
                return dict(self._datasets), error

    def forget(self) -> None:
        """Drop the kept listing (this app just wrote an object): the next reader lists again."""
        with self._lock:
            self._listed_at = None
            if self.shared is not None:
                self.shared.delete(self._key)

    def find(self, name: str) -> Dataset | None:
        """The dataset called ``name`` in the current listing, or ``None``."""
        return self.datasets().get(name)

    def _refresh(self, now: float) -> None:
        self._listed_at = now
        try:
            self._datasets = self._list_shared(now) if self.shared is not None else self.lister.list_datasets()
            self._error = None
        except StorageError as error:
            self._error = error

    def _list_shared(self, now: float) -> dict[str, Dataset]:
        stored = self.shared.get(self._key)
        if stored is not None and now - stored["listed_at"] < self.refresh_seconds:
            return _decode(stored)
        # One lock per period (its number in the key), never released: at most one listing per period
        # for everyone, even where locks last whole seconds (cachelib rounds a timeout up).
        period = int(now // self.refresh_seconds) if self.refresh_seconds > 0 else now
        lock = self.shared.take_lock(f"{self._key}:lock:{period}", math.ceil(self.refresh_seconds) + 1)
        if lock is None and stored is not None:
            if "failed" in stored:  # the process that listed last could not: everyone reports the outage
                raise StorageError(stored["failed"])
            return _decode(stored)
        try:
            datasets = self.lister.list_datasets()
        except StorageError as error:
            if stored is not None:
                self.shared.set(self._key, {**stored, "failed": str(error)})
            raise
        self.shared.set(self._key, _encode(datasets, now))
        return datasets


def _encode(datasets: dict[str, Dataset], listed_at: float) -> dict[str, Any]:
    rows = [(each.name, each.object_name, each.version.to_dict()) for each in datasets.values()]
    return {"listed_at": listed_at, "datasets": rows}


def _decode(stored: dict[str, Any]) -> dict[str, Dataset]:
    datasets = [
        Dataset(name, object_name, DataVersion.from_dict(version)) for name, object_name, version in stored["datasets"]
    ]
    return {each.name: each for each in datasets}
