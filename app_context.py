"""What the app layer keeps on its Flask server for pages and routes: settings, live data, table queries.

:func:`app.create_app` installs them once; pages, routes and hooks look them up here for the
app serving the current request. The data layer below (:mod:`data_access`) knows nothing of Flask.
"""

from __future__ import annotations

from flask import Flask, current_app, g

from data_access import DatasetRegistry, LiveData, StorageError
from data_access.catalog import Dataset
from data_access.table_query import TableQuery
from settings import Settings

SETTINGS_KEY = "DASHBOARD_SETTINGS"
LIVE_DATA_EXTENSION = "live_data"
TABLE_QUERY_EXTENSION = "table_query"
DATASETS_EXTENSION = "datasets"


def install_app_context(
    server: Flask, settings: Settings, live_data: LiveData, datasets: DatasetRegistry | None = None
) -> None:
    """Keep ``settings``, ``live_data``, the datasets (when many) and this process's table queries on ``server``."""
    server.config[SETTINGS_KEY] = settings
    server.extensions[LIVE_DATA_EXTENSION] = live_data
    server.extensions[DATASETS_EXTENSION] = datasets
    server.extensions[TABLE_QUERY_EXTENSION] = TableQuery()


def current_settings() -> Settings:
    """The settings of the app serving the current request."""
    return current_app.config[SETTINGS_KEY]


def current_live_data() -> LiveData:
    """The :class:`LiveData` the current request is about: its dataset's (``/d/<name>/…``), else the default."""
    return g.get("dataset_live_data") or current_app.extensions[LIVE_DATA_EXTENSION]


def current_datasets() -> DatasetRegistry | None:
    """The datasets of the app serving the current request, or ``None`` when it follows one object."""
    return current_app.extensions[DATASETS_EXTENSION]


def dataset_live_data(name: str, create: bool = False) -> LiveData | None:
    """The LiveData of dataset ``name`` (``create``: a new name too); ``None`` when none, or storage is down."""
    datasets = current_datasets()
    try:
        return datasets.live_data(name, create) if datasets is not None else None
    except StorageError:
        return None


def find_dataset(name: str) -> Dataset | None:
    """Dataset ``name`` as the catalog last listed it, or ``None`` (no datasets, or no such name)."""
    datasets = current_datasets()
    # During a storage outage, the last listing: the page opens with its outage notice, not a 404.
    return datasets.catalog.last_known()[0].get(name) if datasets is not None else None


def use_dataset(name: str, create: bool = False) -> LiveData | None:
    """Make dataset ``name`` the current request's data (:func:`current_live_data`); ``None`` when unknown."""
    live_data = dataset_live_data(name, create)
    if live_data is not None:
        g.dataset_live_data, g.dataset_name = live_data, name
    return live_data


def use_admin_dataset(name: str | None) -> LiveData | None:
    """The admin page's dataset: ``name`` (listed, or a new name) with many datasets, else the default."""
    if current_datasets() is None:
        return current_live_data()
    return use_dataset(name, create=True) if name else None


def current_dataset_name() -> str | None:
    """The dataset the current request is about, or ``None`` for the default."""
    return g.get("dataset_name")


def current_table_query() -> TableQuery:
    """This process's :class:`TableQuery` for the app serving the current request."""
    return current_app.extensions[TABLE_QUERY_EXTENSION]
