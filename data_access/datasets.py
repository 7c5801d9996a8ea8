"""Many datasets per deployment: one :class:`LiveData` per dataset, made when someone first looks at it.

Version checks read the one catalog listing (:class:`CatalogSource`); an object is read only to show a generation.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath
from typing import Any

import pandas as pd

from data_access.catalog import DATASET_NAME, Dataset, DatasetCatalog
from data_access.live_data import LiveData
from data_access.parsing import load_table
from data_access.sources import DataSource, DataVersion, StorageError

log = logging.getLogger(__name__)

#: Rows and columns a catalog card previews.
PREVIEW_ROWS = 3
PREVIEW_COLUMNS = 4
#: A card's summary is kept as long as its generation could be live.
SUMMARY_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class DatasetSummary:
    """What a catalog card shows of one generation: its size, and its first rows as text."""

    rows: int | None
    columns: int | None
    header: list[str]
    preview: list[list[str]]
    error: str | None = None


def summarize(content: bytes, file_name: str) -> DatasetSummary:
    """The summary of one stored file (rows, columns, the first few cells as text)."""
    try:
        frame = load_table(content, file_name)
    except Exception:  # whatever the object holds, the catalog shows the other cards
        return DatasetSummary(None, None, [], [], "This file cannot be read as a table; its page says why.")
    shown = frame.iloc[:PREVIEW_ROWS, :PREVIEW_COLUMNS]
    preview = [[preview_text(value) for value in row] for row in shown.itertuples(index=False)]
    return DatasetSummary(len(frame), len(frame.columns), [str(name) for name in shown.columns], preview)


def preview_text(value: Any) -> str:
    """A cell as a card shows it: blank for missing, dates without a midnight time, numbers short."""
    if value is None or (not isinstance(value, (list, dict, tuple)) and pd.isna(value)):
        return ""
    if isinstance(value, pd.Timestamp) and value == value.normalize():
        return value.date().isoformat()
    if isinstance(value, float):
        return f"{value:,.6g}"
    return str(value)


class CatalogSource:
    """The object the catalog names for a dataset (``a.csv``, once deleted ``a.parquet``), versioned by the listing."""

    def __init__(self, dataset: Dataset, catalog: DatasetCatalog, make_source: Callable[[Dataset], DataSource]) -> None:
        self.catalog = catalog
        self.dataset_name = dataset.name
        self.object_name = dataset.object_name
        self._make_source = make_source
        self.source = make_source(dataset)

    def current_version(self) -> DataVersion | None:
        """The generation the last listing saw (``None``: removed); raises the listing's StorageError."""
        dataset = self.catalog.find(self.dataset_name)
        if dataset is None:
            return None
        if dataset.object_name != self.object_name:
            log.info("dataset %r now follows %s", self.dataset_name, PurePosixPath(dataset.object_name).name)
            self.source = self._make_source(dataset)
            self.object_name = dataset.object_name
        return dataset.version

    def __getattr__(self, name: str) -> Any:
        # The name, location, reading, writing and history are those of the object followed now.
        return getattr(self.source, name)


class DatasetRegistry:
    """The catalog, and a :class:`LiveData` per dataset viewed (kept after it leaves: open pages say "removed")."""

    def __init__(
        self,
        catalog: DatasetCatalog,
        make_source: Callable[[Dataset], DataSource],
        make_live_data: Callable[[Dataset, DataSource], LiveData],
        shared: Any,
        max_summary_bytes: int,
        new_object_name: Callable[[str], str],
    ) -> None:
        self.catalog = catalog
        self._new_object_name = new_object_name
        self._make_source = make_source
        self._make_live_data = make_live_data
        self._shared = shared
        self._max_summary_bytes = max_summary_bytes
        self._live: dict[str, LiveData] = {}
        self._lock = threading.Lock()
        self._summary_lock = threading.Lock()

    def live_data(self, name: str, create: bool = False) -> LiveData | None:
        """The LiveData of dataset ``name`` if listed (``create``: or a new valid name), else ``None``."""
        if name in self._live:
            return self._live[name]
        dataset = self.catalog.last_known()[0].get(name)  # in an outage, the last listing: the page says so
        if dataset is None and not (create and DATASET_NAME.fullmatch(name)):
            return None
        if dataset is None:
            dataset = Dataset(name, self._new_object_name(name), DataVersion("", "", 0))
        with self._lock:
            if name not in self._live:
                source = CatalogSource(dataset, self.catalog, self._make_source)
                live = self._make_live_data(dataset, source)
                # A publish or restore through this app: list again at once (before the feed announces it).
                live.on_written(self.catalog.forget)
                self._live[name] = live
            return self._live[name]

    def summary(self, dataset: Dataset) -> DatasetSummary:
        """Rows, columns and a preview of ``dataset``'s live generation, parsed once for everyone (shared cache)."""
        key = f"summary:{dataset.object_name}:{dataset.version.generation}"
        stored = self._shared.get(key)
        if stored is not None:
            return DatasetSummary(**stored)
        if dataset.version.size > self._max_summary_bytes:
            return DatasetSummary(None, None, [], [], "too large to preview")
        with self._summary_lock:
            try:
                content = self._make_source(dataset).read(dataset.version.generation)
            except StorageError as error:
                return DatasetSummary(None, None, [], [], str(error))  # not kept: asked again next time
            summary = summarize(content, dataset.object_name)
        self._shared.set(key, asdict(summary), timeout=SUMMARY_SECONDS)
        return summary

    def viewed(self) -> dict[str, LiveData]:
        """The datasets this process made a LiveData for, by name."""
        return dict(self._live)
