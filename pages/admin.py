"""Admin page (``/admin``): upload → validate → preview → publish, history and rollback.

Security is checked where the work happens: the layout is only built for an
admin, and **every callback below calls** :func:`auth.require_admin` **itself**
(a page guard does not protect ``/_dash-update-component``). Component ids start
with ``admin-`` so the request gate in :mod:`auth.web` can refuse them too.

Nothing about the uploaded file is trusted from the browser: publishing decodes
and validates the file again and checks it is the one that was previewed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, ClientsideFunction, Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from auth import User, current_user, require_admin
from components.preview import describe_version, history_table, notice, problems_alert, upload_preview
from data_access import DataUnavailable, StorageError, VersionConflict, current_live_data
from data_access.publishing import Publisher, clean_filename, diff_summary, prepare_publication
from data_access.validation import Schema, ValidationReport, validate_upload
from settings import current_settings

dash.register_page(__name__, path="/admin", name="Admin", title="Admin · Live dashboard", order=1)

ADMIN_REFRESH_MS = 5_000
HISTORY_LENGTH = 25
HIDDEN = {"display": "none"}


def layout(**_query: Any) -> Any:
    user = current_user()
    if user is None or not user.is_admin:
        # Anyone may ask the page router for /admin; only admins get the page.
        return html.Div([dcc.Location(id="login-redirect", href="/login?next=/admin"), html.P("Signing in…")])
    return _admin_layout(user)


def _admin_layout(user: User) -> dbc.Container:
    settings = current_settings()
    return dbc.Container(
        [
            html.Div(
                [
                    html.H1("Publish data", className="h3 mt-3 me-auto"),
                    html.Span(f"Signed in as {user.name}", className="text-muted small me-2"),
                    _sign_out_form(),
                ],
                className="d-flex align-items-center",
            ),
            dbc.Card(
                dbc.CardBody(
                    [
                        html.H2("Live version", className="h6"),
                        html.Div("Loading…", id="admin-live"),
                        html.Small(f"Stored at {settings.data_location}", className="text-muted"),
                    ]
                ),
                className="mb-3",
            ),
            dcc.Interval(id="admin-refresh", interval=ADMIN_REFRESH_MS),
            dcc.Store(id="admin-live-version"),
            dcc.Store(id="admin-history-stale"),
            _upload_card(settings.max_upload_mb),
            html.Div(id="admin-upload-error"),
            dcc.Loading(html.Div(id="admin-validation"), type="dot"),
            dcc.Store(id="admin-pending"),
            dcc.Store(id="admin-upload-ready"),
            dcc.Store(
                id="admin-limits",
                data={"max_bytes": int(settings.max_upload_mb * 2**20), "max_mb": settings.max_upload_mb},
            ),
            html.Div(
                [
                    dbc.Button("Publish", id="admin-publish", color="primary", disabled=True, className="me-2"),
                    dbc.Button(
                        "Review again",
                        id="admin-review-again",
                        color="secondary",
                        outline=True,
                        style={"display": "none"},  # shown after a conflict
                    ),
                ],
                className="mb-2",
            ),
            dcc.Loading(html.Div(id="admin-publish-result"), type="dot"),
            html.Div(id="admin-preview"),
            html.H2("History", className="h5 mt-4"),
            html.Div(id="admin-restore-result"),
            html.Div(id="admin-history"),
            dcc.Store(id="admin-restore-target"),
            dcc.ConfirmDialog(id="admin-restore-confirm"),
        ],
        fluid=True,
    )


def _sign_out_form() -> html.Form:
    return html.Form(
        html.Button("Sign out", type="submit", className="btn btn-outline-secondary btn-sm"),
        action="/logout",
        method="POST",
    )


def _upload_card(max_upload_mb: float) -> dbc.Card:
    schema = _schema()
    return dbc.Card(
        dbc.CardBody(
            [
                html.H2("Upload a new version", className="h6"),
                dcc.Upload(
                    id="admin-upload",
                    children=html.Div(["Drag and drop a CSV or Parquet file here, or ", html.A("choose a file")]),
                    className="border border-2 rounded p-4 text-center bg-light",
                    style={"borderStyle": "dashed"},
                    max_size=-1,  # checked in the browser and on the server, with a message
                    multiple=False,
                ),
                html.Small(
                    f"{schema.describe()} Up to {max_upload_mb:g} MB and {schema.max_rows:,} rows.",
                    className="text-muted",
                ),
            ]
        ),
        className="mb-3",
    )


def _schema() -> Schema:
    return current_live_data().schema


def _publisher() -> Publisher:
    return Publisher(current_live_data())


# -- upload and preview -----------------------------------------------------------------

clientside_callback(
    ClientsideFunction(namespace="admin", function_name="checkUploadSize"),
    Output("admin-upload-ready", "data"),
    Output("admin-upload-error", "children"),
    Input("admin-upload", "contents"),
    State("admin-upload", "filename"),
    State("admin-limits", "data"),
    prevent_initial_call=True,
)


def decode_upload(contents: str | None) -> bytes:
    """The file bytes from ``dcc.Upload``'s ``data:<type>;base64,<data>`` value."""
    if not contents or "," not in contents:
        raise ValueError("No file was received. Choose the file again.")
    try:
        return base64.b64decode(contents.split(",", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("The upload arrived damaged. Choose the file again.") from None


def _check(contents: str | None, filename: str | None) -> tuple[bytes, ValidationReport]:
    try:
        content = decode_upload(contents)
    except ValueError as error:
        return b"", ValidationReport([str(error)])
    max_bytes = int(current_settings().max_upload_mb * 2**20)
    return content, validate_upload(content, filename or "", _schema(), max_bytes)


@callback(
    Output("admin-validation", "children"),
    Output("admin-preview", "children"),
    Output("admin-pending", "data"),
    Output("admin-publish", "disabled"),
    Output("admin-publish-result", "children"),
    Output("admin-review-again", "style", allow_duplicate=True),
    Input("admin-upload-ready", "data"),
    Input("admin-review-again", "n_clicks"),
    State("admin-upload", "contents"),
    State("admin-upload", "filename"),
    prevent_initial_call=True,
)
def preview_upload(_ready: Any, _review: Any, contents: str | None, filename: str | None) -> tuple:
    """Validate the chosen file and show what publishing it would do."""
    require_admin()
    if not contents:
        raise PreventUpdate
    content, report = _check(contents, filename)
    if not report.ok:
        return problems_alert(report.problems), None, None, True, None, HIDDEN
    try:
        live = _publisher().live_version()
    except StorageError as error:
        message = f"Storage cannot be read right now, so nothing can be published: {error}"
        return notice(message, "warning"), None, None, True, None, HIDDEN
    live_frame = _readable_frame(live.generation) if live else None
    shown_name = clean_filename(filename or "")
    pending = {
        "sha256": hashlib.sha256(content).hexdigest(),
        "base_generation": live.generation if live else None,
        "filename": shown_name,
        "rows": len(report.table),
    }
    diff = diff_summary(live_frame, report.frame)
    uploaded_columns = [str(column) for column in report.table.columns]
    preview = upload_preview(
        report.frame, uploaded_columns, shown_name, diff, live, current_settings().max_chart_points
    )
    return None, preview, pending, False, None, HIDDEN


def _readable_frame(generation: str) -> Any:
    """The live table for the diff, or ``None`` when it cannot be read (a fix must still be publishable)."""
    try:
        return current_live_data().frame(generation)
    except DataUnavailable:
        return None


# -- publish ------------------------------------------------------------------------------


@callback(
    Output("admin-publish-result", "children", allow_duplicate=True),
    Output("admin-pending", "data", allow_duplicate=True),
    Output("admin-publish", "disabled", allow_duplicate=True),
    Output("admin-history-stale", "data"),
    Output("admin-preview", "children", allow_duplicate=True),
    Output("admin-review-again", "style"),
    Input("admin-publish", "n_clicks"),
    State("admin-upload", "contents"),
    State("admin-upload", "filename"),
    State("admin-pending", "data"),
    prevent_initial_call=True,
)
def publish_upload(n_clicks: int | None, contents: str | None, filename: str | None, pending: dict | None) -> tuple:
    """Publish the previewed file, only over the generation it was previewed against."""
    user = require_admin()
    if not n_clicks or not pending:
        raise PreventUpdate
    content, report = _check(contents, filename)
    if not report.ok or hashlib.sha256(content).hexdigest() != pending.get("sha256"):
        message = "The file is not the one you previewed. Review it again before publishing."
        return notice(message, "danger"), None, True, no_update, no_update, {}
    publication = prepare_publication(report.table, content, filename or "", current_live_data().source.name)
    try:
        version = _publisher().publish(publication, user.name, pending.get("base_generation"))
    except VersionConflict as conflict:
        return notice(_conflict_message(conflict), "warning"), None, True, no_update, no_update, {}
    except StorageError as error:
        message = f"Nothing was published: storage failed ({error}). Try again."
        return notice(message, "danger"), no_update, False, no_update, no_update, no_update
    message = (
        f"Published generation {version.generation} ({publication.rows:,} rows). Open dashboards update within seconds."
    )
    # The preview described a file that is now live: clear it.
    return notice(message, "success"), None, True, version.generation, None, HIDDEN


def _conflict_message(conflict: VersionConflict) -> str:
    current = conflict.current
    who = current.metadata.get("uploaded_by", "someone") if current else "someone"
    now = f"generation {current.generation}, by {who}" if current else "nothing live"
    return f"The live data changed since you started (now {now}). Nothing was published — review again."


# -- live version and history -----------------------------------------------------------


@callback(
    Output("admin-live", "children"),
    Output("admin-history", "children"),
    Output("admin-live-version", "data"),
    Input("admin-refresh", "n_intervals"),
    Input("admin-history-stale", "data"),
    State("admin-live-version", "data"),
)
def refresh_live_version(_ticks: Any, stale_marker: Any, shown_generation: str | None) -> tuple:
    """Show the live generation; reload the history when it changes (someone published)."""
    require_admin()
    # The shared cached check, as dashboards use: an open admin tab costs no extra storage calls.
    check = current_live_data().check_version()
    if not check.ok:
        return notice(f"Storage unreachable, retrying: {check.error}", "warning"), no_update, no_update
    live = check.version
    generation = live.generation if live else ""
    if generation == shown_generation and ctx.triggered_id == "admin-refresh":
        raise PreventUpdate
    try:
        history = history_table(_publisher().history(HISTORY_LENGTH), generation)
    except StorageError as error:
        history = notice(f"History cannot be read right now: {error}", "warning")
    return describe_version(live), history, generation


@callback(
    Output("admin-restore-target", "data"),
    Output("admin-restore-confirm", "message"),
    Output("admin-restore-confirm", "displayed"),
    Input({"type": "admin-restore", "generation": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def ask_to_restore(clicks: list[int | None]) -> tuple:
    """Confirm before restoring the generation whose button was clicked."""
    require_admin()
    if not ctx.triggered_id or not any(clicks):
        raise PreventUpdate  # the table was redrawn, nobody clicked
    generation = ctx.triggered_id["generation"]
    return generation, f"Restore generation {generation} as the new live version?", True


@callback(
    Output("admin-restore-result", "children"),
    Output("admin-history-stale", "data", allow_duplicate=True),
    Input("admin-restore-confirm", "submit_n_clicks"),
    State("admin-restore-target", "data"),
    State("admin-live-version", "data"),
    prevent_initial_call=True,
)
def restore_version(_confirmed: Any, generation: str | None, live_generation: str | None) -> tuple:
    """Republish an old generation, only over the live generation the admin was looking at."""
    user = require_admin()
    if not generation:
        raise PreventUpdate
    try:
        version = _publisher().restore(generation, user.name, live_generation or None)
    except VersionConflict as conflict:
        return notice(_conflict_message(conflict), "warning"), f"conflict-{generation}"
    except (StorageError, DataUnavailable, ValueError) as error:
        return notice(f"Generation {generation} cannot be restored: {error}", "danger"), no_update
    message = f"Restored generation {generation} as new generation {version.generation}."
    return notice(message, "success"), version.generation
