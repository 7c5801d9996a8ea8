"""What the app layer keeps on its Flask server for pages and routes: settings, live data, table queries.

:func:`app.create_app` installs them once; pages, routes and hooks look them up here for the
app serving the current request. The data layer below (:mod:`data_access`) knows nothing of Flask.
"""

from __future__ import annotations

from flask import Flask, current_app

from data_access import LiveData
from data_access.table_query import TableQuery
from settings import Settings

SETTINGS_KEY = "DASHBOARD_SETTINGS"
LIVE_DATA_EXTENSION = "live_data"
TABLE_QUERY_EXTENSION = "table_query"


def install_app_context(server: Flask, settings: Settings, live_data: LiveData) -> None:
    """Keep ``settings`` and ``live_data`` (and this process's table queries) on ``server``."""
    server.config[SETTINGS_KEY] = settings
    server.extensions[LIVE_DATA_EXTENSION] = live_data
    server.extensions[TABLE_QUERY_EXTENSION] = TableQuery()


def current_settings() -> Settings:
    """The settings of the app serving the current request."""
    return current_app.config[SETTINGS_KEY]


def current_live_data() -> LiveData:
    """The :class:`LiveData` of the app serving the current request."""
    return current_app.extensions[LIVE_DATA_EXTENSION]


def current_table_query() -> TableQuery:
    """This process's :class:`TableQuery` for the app serving the current request."""
    return current_app.extensions[TABLE_QUERY_EXTENSION]
