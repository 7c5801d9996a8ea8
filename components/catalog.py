"""A catalog card: one dataset's name (a link to its page), description, size, version label and preview."""

from __future__ import annotations

from dash import html

from data_access.catalog import Dataset
from data_access.datasets import DatasetSummary
from data_access.units import count
from data_access.versions import SEPARATOR, version_label

#: The catalog page's module (its key in ``dash.page_registry``).
CATALOG_MODULE = "pages.catalog"
#: Shown above the cards while the last listing of storage failed (the cards are the ones listed before).
OUTAGE_NOTICE = "Storage cannot be listed right now: these are the datasets as last listed. Retrying by itself."


def dataset_card(dataset: Dataset, summary: DatasetSummary) -> html.Div:
    """The card of ``dataset``: plain elements, as a catalog draws a hundred and each component costs first paint."""
    size = (
        f"{count(summary.rows, 'row')} · {count(summary.columns, 'column')}"
        if summary.rows is not None and summary.columns is not None
        else summary.error
    )
    facts = SEPARATOR.join(filter(None, (size, version_label(dataset.version, with_file=False))))
    body = [
        # A plain link: the dataset's page opens its own live channel on a fresh load.
        html.H2(html.A(dataset.name, href=f"/d/{dataset.name}", className="stretched-link"), className="h5 card-title"),
        html.P(dataset.description, className="card-text small mb-1", hidden=not dataset.description),
        html.P(facts, className="card-text small text-muted mb-2 catalog-facts"),
        preview_table(summary),
    ]
    return html.Div(html.Div(body, className="card card-body h-100 catalog-card"), className="col-12 col-md-6 col-xl-4")


def preview_table(summary: DatasetSummary) -> html.Div | None:
    """The first rows and columns as a small table (nothing when there is no preview)."""
    if not summary.header:
        return None
    head = html.Tr([html.Th(name) for name in summary.header])
    rows = [html.Tr([html.Td(value) for value in row]) for row in summary.preview]
    # Scrolls inside its card when the columns are wide (the card never grows past its column).
    return html.Div(
        html.Table(html.Tbody([head, *rows]), className="table table-sm small mb-0 catalog-preview"),
        className="table-responsive",
    )
