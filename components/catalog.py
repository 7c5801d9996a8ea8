"""A catalog card: one dataset's name (a link to its page), description, size, version label and preview."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from data_access.catalog import Dataset
from data_access.datasets import DatasetSummary
from data_access.live_channel import version_label
from data_access.units import count

#: The catalog page's module (its key in ``dash.page_registry``).
CATALOG_MODULE = "pages.catalog"
#: Shown above the cards while the last listing of storage failed (the cards are the ones listed before).
OUTAGE_NOTICE = "Storage cannot be listed right now: these are the datasets as last listed. Retrying by itself."


def dataset_card(dataset: Dataset, summary: DatasetSummary) -> dbc.Col:
    """The card of ``dataset`` (its live generation summarised by ``summary``)."""
    href = f"/d/{dataset.name}"
    size = (
        f"{count(summary.rows, 'row')} · {count(summary.columns, 'column')}"
        if summary.rows is not None and summary.columns is not None
        else summary.error or ""
    )
    body = [
        # A plain link: the dataset's page opens its own live channel on a fresh load.
        html.H2(html.A(dataset.name, href=href, className="stretched-link"), className="h5 card-title"),
        html.P(dataset.description, className="card-text small mb-1", hidden=not dataset.description),
        html.P(size, className="card-text small text-muted mb-1 catalog-size"),
        html.P(version_label(dataset.version.to_dict()), className="card-text small text-muted mb-2"),
        preview_table(summary),
    ]
    return dbc.Col(
        dbc.Card(dbc.CardBody(body), className="h-100 catalog-card", id={"type": "catalog-card", "name": dataset.name}),
        xs=12,
        md=6,
        xl=4,
    )


def preview_table(summary: DatasetSummary) -> html.Div | html.Span:
    """The first rows and columns as a small table (nothing when there is no preview)."""
    if not summary.header:
        return html.Span()
    head = html.Thead(html.Tr([html.Th(name) for name in summary.header]))
    rows = html.Tbody([html.Tr([html.Td(value) for value in row]) for row in summary.preview])
    # Scrolls inside its card when the columns are wide (the card never grows past its column).
    return html.Div(
        html.Table([head, rows], className="table table-sm small mb-0 catalog-preview"), className="table-responsive"
    )
