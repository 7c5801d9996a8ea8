"""Admin page (``/admin``): upload → validate → preview → publish, history and rollback.

Every callback checks the admin itself through :func:`_admin_callback` (a page guard does not protect
``/_dash-update-component``). The file arrives through :mod:`admin.upload` into a staging object;
the preview checks one generation of it and publishing copies exactly that generation.
"""

from __future__ import annotations

import hashlib
import inspect
import typing
from collections.abc import Callable
from datetime import tzinfo
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, ClientsideFunction, Dash, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from admin.upload import PENDING_PURPOSE, UPLOAD_PURPOSE, read_user_token, user_token
from app_context import current_datasets, current_live_data, current_settings, use_admin_dataset
from auth import User, current_user, require_admin
from auth.web import ADMIN_PATH
from callback_input import typed_callback
from components.preview import describe_version, history_table, notice, problems_alert, upload_preview
from components.versions import reader_zone, version_label, version_text
from data_access import (
    DataUnavailable,
    GenerationNotFound,
    StorageError,
    VersionConflict,
    staging_for,
)
from data_access.catalog import dataset_name
from data_access.parsing import format_for
from data_access.publishing import (
    Audit,
    Publisher,
    clean_filename,
    convert_table,
    diff_summary,
)
from data_access.roles import parse_time_columns
from data_access.staging import StagedFile, Staging, check_staged
from data_access.units import MB, count
from settings import MAX_DESCRIPTION_CHARS

ADMIN_REFRESH_MS = 5_000
HISTORY_LENGTH = 25
HIDDEN = {"display": "none"}
NOT_PREVIEWED = "The file is not the one you previewed. Review it again before publishing."
# (dependencies, options, function) of each callback below, registered on an app by register():
# dash.callback would register them at import, for every app built afterwards (the chart service's too).
_CALLBACKS: list[tuple[tuple[Any, ...], dict[str, Any], Callable[..., Any]]] = []


def _admin_callback(*dependencies: Any, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Keep a callback of this page for :func:`register`: admins only, on the page's dataset, values typed.

    The callback also reads the page's dataset (``admin-dataset``, last), made current before it runs.
    """

    def keep(function: Callable[..., Any]) -> Callable[..., Any]:
        def on_dataset(*args: Any) -> Any:
            *values, dataset = args
            require_admin()  # before a dataset is made for a name someone sent
            if use_admin_dataset(dataset) is None:
                raise PreventUpdate  # no dataset picked on this page: nothing to work on
            return function(*values)

        # typed_callback checks the dataset too, before the admin: a malformed request is a 400 for anyone.
        signature = inspect.signature(function)
        dataset = inspect.Parameter("admin_dataset", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str | None)
        on_dataset.__signature__ = signature.replace(parameters=[*signature.parameters.values(), dataset])  # type: ignore[attr-defined]
        on_dataset.__annotations__ = {**typing.get_type_hints(function), "admin_dataset": str | None}
        _CALLBACKS.append(((*dependencies, State("admin-dataset", "data")), options, typed_callback(on_dataset)))
        return function

    return keep


def register(app: Dash) -> None:
    """Add the page at ``/admin`` and its callbacks to ``app``."""
    dash.register_page(
        __name__,
        path=ADMIN_PATH,
        name="Admin",
        title="Admin · Live dashboard",
        order=1,
        layout=layout,
    )
    for dependencies, options, function in _CALLBACKS:
        app.callback(*dependencies, **options)(function)
    # The browser's IANA time zone, once per page load: times read as on the chart page's status line.
    app.clientside_callback(
        ClientsideFunction(namespace="admin", function_name="timeZone"),
        Output("admin-timezone", "data"),
        Input("admin-timezone", "id"),
    )


def layout(dataset: str | None = None, **_query: Any) -> Any:
    user = current_user()
    if user is None or not user.is_admin:
        # Anyone may ask the page router for /admin; only admins get the page.
        return html.Div([dcc.Location(id="login-redirect", href=f"/login?next={ADMIN_PATH}"), html.P("Signing in…")])
    if current_datasets() is None:
        return _admin_layout(user, None, current_settings().data_location)
    if isinstance(dataset, str):
        dataset = dataset_name(dataset.strip()) or dataset.strip()  # "sales.csv" names dataset "sales"
    live_data = use_admin_dataset(dataset if isinstance(dataset, str) else None)
    if live_data is None:
        problem = "" if not dataset else "A dataset name is letters, digits, '.', '_' or '-' (up to 100)."
        return dbc.Container([_heading(user), _dataset_picker(None, problem)], fluid=True)
    return _admin_layout(user, dataset, live_data.source.location)


def _heading(user: User) -> html.Div:
    sign_out = html.Button("Sign out", type="submit", className="btn btn-outline-secondary btn-sm")
    return html.Div(
        [
            html.H1("Publish data", className="h3 mt-3 me-auto"),
            html.Span(f"Signed in as {user.name}", className="text-muted small me-2"),
            html.Form(sign_out, action="/logout", method="POST"),
        ],
        className="d-flex flex-wrap align-items-center",
    )


def _dataset_picker(current: str | None, problem: str = "") -> html.Form:
    """Pick a dataset (or name a new one): a plain GET form to ``/admin?dataset=<name>``."""
    datasets = current_datasets()
    try:
        names = sorted(datasets.catalog.datasets()) if datasets is not None else []
    except StorageError:
        names = []
    return html.Form(
        [
            dbc.Label("Dataset", html_for="admin-dataset-name", className="small mb-1"),
            html.Div(
                [
                    dcc.Input(
                        id="admin-dataset-name",
                        name="dataset",
                        value=current or "",
                        list="admin-dataset-names",
                        placeholder="pick one, or name a new one",
                        maxLength=100,
                        className="form-control me-2",
                        style={"maxWidth": "24rem"},
                    ),
                    html.Button("Open", type="submit", className="btn btn-outline-primary"),
                ],
                className="d-flex",
            ),
            html.Datalist([html.Option(value=name) for name in names], id="admin-dataset-names"),
            html.Div(problem, className="text-danger small", hidden=not problem),
        ],
        action=ADMIN_PATH,
        method="GET",
        className="mb-3",
    )


def _admin_layout(user: User, dataset: str | None, location: str) -> dbc.Container:
    settings = current_settings()
    return dbc.Container(
        [
            _heading(user),
            _dataset_picker(dataset) if dataset is not None else html.Div(),
            dcc.Store(id="admin-dataset", data=dataset),
            dbc.Card(
                dbc.CardBody(
                    [
                        html.H2("Live version", className="h6"),
                        html.Div("Loading…", id="admin-live"),
                        html.Small(f"Stored at {location}", className="text-muted text-break"),
                    ]
                ),
                className="mb-3",
            ),
            dcc.Interval(id="admin-refresh", interval=ADMIN_REFRESH_MS),
            dcc.Store(id="admin-timezone"),  # the browser's time zone, for times in people's words
            dcc.Store(id="admin-live-version"),
            dcc.Store(id="admin-history-stale"),
            _upload_card(settings.max_upload_mb, dataset),
            html.Div(id="admin-upload-error", className="text-danger mb-2"),
            dcc.Store(id="admin-staged"),  # {token, filename, size}: set by admin/static/admin_upload.js
            dcc.Loading(html.Div(id="admin-validation"), type="dot"),
            dcc.Store(id="admin-pending"),
            _publish_row(),
            dcc.Loading(html.Div(id="admin-publish-result"), type="dot"),
            html.Div(id="admin-preview"),
            html.H2("History", className="h5 mt-4"),
            html.Div(id="admin-restore-result"),
            html.Div(id="admin-history", className="table-responsive"),
            dcc.Store(id="admin-restore-target"),
            dcc.ConfirmDialog(id="admin-restore-confirm"),
        ],
        fluid=True,
    )


def _upload_card(max_upload_mb: float, dataset: str | None) -> dbc.Card:
    schema = current_live_data().schema
    return dbc.Card(
        dbc.CardBody(
            [
                html.H2("Upload a new version", className="h6"),
                html.Div(
                    # dcc.Upload draws the drop zone and the file dialog; admin/static/admin_upload.js takes the
                    # chosen file before dcc.Upload would read it into the page, and sends it in chunks.
                    dcc.Upload(
                        id="admin-upload",
                        children=html.Div(["Drag and drop a CSV or Parquet file here, or ", html.A("choose a file")]),
                        className="border border-2 rounded p-4 text-center bg-light",
                        style={"borderStyle": "dashed"},
                        accept=".csv,.parquet,.pq",
                        multiple=False,
                    ),
                    id="admin-uploader",
                    # Read by admin/static/admin_upload.js: a too-large file is refused before any byte is sent.
                    **{
                        "data-max-bytes": str(int(max_upload_mb * MB)),
                        "data-max-mb": f"{max_upload_mb:g}",
                        "data-dataset": dataset or "",
                    },
                ),
                html.Small(
                    f"{schema.describe()} Up to {max_upload_mb:g} MB and {count(schema.max_rows)} rows.",
                    className="text-muted",
                ),
                html.Div(
                    [
                        dbc.Progress(id="admin-upload-progress", value=0, className="flex-grow-1 me-2"),
                        dbc.Button(
                            "Cancel upload", id="admin-upload-cancel", size="sm", color="secondary", outline=True
                        ),
                    ],
                    id="admin-upload-bar",
                    className="mt-2",
                    style=HIDDEN,
                ),
                html.Div(id="admin-upload-status", className="small text-muted mt-1", role="status"),
            ]
        ),
        className="mb-3",
    )


def _publish_row() -> html.Div:
    return html.Div(
        [
            dbc.Label("Description (optional)", html_for="admin-description", className="small mb-1"),
            dbc.Input(
                id="admin-description",
                placeholder="e.g. March figures, corrected totals",
                maxLength=MAX_DESCRIPTION_CHARS,
                className="mb-2",
            ),
            dbc.Button("Publish", id="admin-publish", color="primary", disabled=True, className="me-2"),
            # Shown while Publish is enabled (assets/style.css); admin/static/admin_upload.js deletes the upload.
            dbc.Button("Discard", id="admin-discard", color="secondary", outline=True, className="me-2"),
            dbc.Button(
                "Review again",
                id="admin-review-again",
                color="secondary",
                outline=True,
                style=HIDDEN,  # shown after a conflict
            ),
        ],
        className="mb-2",
    )


def _publisher() -> Publisher:
    return Publisher(current_live_data())


def _staging() -> Staging:
    return staging_for(current_live_data().source)


# -- preview (of the staged upload) --------------------------------------------------


@_admin_callback(
    Output("admin-validation", "children"),
    Output("admin-preview", "children"),
    Output("admin-pending", "data"),
    Output("admin-publish", "disabled"),
    Output("admin-publish-result", "children"),
    Output("admin-review-again", "style", allow_duplicate=True),
    Input("admin-staged", "data"),
    Input("admin-review-again", "n_clicks"),
    State("admin-timezone", "data"),
    prevent_initial_call=True,
)
def preview_upload(staged_upload: dict | None, _review: Any, zone_name: str | None) -> tuple:
    """Check the staged file and show what publishing it would do (nothing shown once it is cancelled)."""
    user = require_admin()
    if not isinstance(staged_upload, dict):
        return None, None, None, True, None, HIDDEN
    upload = read_user_token(staged_upload.get("token"), UPLOAD_PURPOSE, user)
    if upload is None:
        return notice("This upload was not started by you. Choose the file again.", "danger"), *_NOTHING_TO_PUBLISH
    try:
        return _preview(user, upload, reader_zone(zone_name))
    except StorageError as error:
        message = f"Storage cannot be read right now, so nothing can be published: {error}"
        return notice(message, "warning"), *_NOTHING_TO_PUBLISH


_NOTHING_TO_PUBLISH = (None, None, True, None, HIDDEN)


def _preview(user: User, upload: dict[str, Any], zone: tzinfo) -> tuple:
    staging = _staging()
    staged = staging.find(upload["id"])
    if staged is None or staged.size != upload["size"]:
        staging.delete(upload["id"])
        return notice(_incomplete_upload(staged, upload["size"]), "danger"), *_NOTHING_TO_PUBLISH
    max_bytes = int(current_settings().max_upload_mb * MB)
    check = check_staged(staging, staged, upload["filename"], current_live_data().schema, max_bytes)
    report = check.report
    problems = report.problems if not report.ok else _memory_problems(report.frame)
    if problems:
        staging.delete(upload["id"])  # a rejected file leaves storage as it was
        return problems_alert(problems), *_NOTHING_TO_PUBLISH
    live = _publisher().live_version()
    shown_name = clean_filename(upload["filename"])
    pending = _pin_for_publication(staging, staged, upload, report.table, check.sha256)
    pending.update(base_generation=live.generation if live else None, filename=shown_name, rows=len(report.table))
    live_frame = _readable_frame(live.generation) if live else None
    diff = diff_summary(live_frame, report.frame)
    uploaded_columns = [str(column) for column in report.table.columns]
    max_points = current_settings().max_chart_points
    preview = upload_preview(report.frame, uploaded_columns, shown_name, diff, live, max_points, zone, report.warnings)
    pending_store = {"token": user_token(user, PENDING_PURPOSE, pending), "filename": shown_name}
    return None, preview, pending_store, False, None, HIDDEN


def _incomplete_upload(staged: StagedFile | None, size: int) -> str:
    if staged is not None and staged.size > size:
        # fake-gcs-server appends a chunk sent again after its answer was lost, wherever it starts.
        return (
            f"Storage holds {staged.size:,} bytes for a file of {size:,}: a chunk was stored twice after "
            "a dropped connection. Nothing was published. Choose the file again."
        )
    got = f"{staged.size:,} of {size:,} bytes" if staged else "nothing"
    return f"The upload did not arrive completely ({got}). Choose the file again."


def _memory_problems(frame: Any) -> list[str]:
    """Refused here, not by every dashboard once published: a frame over ``FRAME_MEMORY_MB``."""
    problem = current_live_data().memory_problem(parse_time_columns(frame))
    return [f"The dashboards could not hold this file: {problem}."] if problem else []


def _pin_for_publication(
    staging: Staging, staged: StagedFile, upload: dict[str, Any], table: Any, sha256: str
) -> dict[str, Any]:
    """The staged generation publishing will copy: the upload, or its conversion to the live object's format."""
    live_name = current_live_data().source.name
    pinned = staged
    if format_for(upload["filename"]) != format_for(live_name):
        converted = convert_table(table, live_name)
        pinned, sha256 = staging.stage_bytes(converted), hashlib.sha256(converted).hexdigest()
    return {
        "id": pinned.upload_id,
        "generation": pinned.generation,
        "size": pinned.size,
        "uploaded_id": upload["id"],
        "sha256": sha256,
    }


def _readable_frame(generation: str) -> Any:
    """The live table for the diff, or ``None`` when it cannot be read (a fix must still be publishable)."""
    try:
        return current_live_data().frame(generation)
    except DataUnavailable:
        return None


# -- publish ------------------------------------------------------------------------------


@_admin_callback(
    Output("admin-publish-result", "children", allow_duplicate=True),
    Output("admin-pending", "data", allow_duplicate=True),
    Output("admin-publish", "disabled", allow_duplicate=True),
    Output("admin-history-stale", "data"),
    Output("admin-preview", "children", allow_duplicate=True),
    Output("admin-review-again", "style"),
    Output("admin-upload-bar", "style"),
    Output("admin-description", "value"),
    Output("admin-upload-status", "children"),
    Input("admin-publish", "n_clicks"),
    State("admin-pending", "data"),
    State("admin-description", "value"),
    State("admin-timezone", "data"),
    prevent_initial_call=True,
)
def publish_upload(
    n_clicks: int | None, pending_store: dict | None, description: str | None, zone_name: str | None
) -> tuple:
    """Publish the previewed staged generation, only over the generation it was previewed against."""
    user = require_admin()
    zone = reader_zone(zone_name)
    if not n_clicks or not pending_store:
        raise PreventUpdate
    pending = read_user_token(pending_store.get("token"), PENDING_PURPOSE, user)  # a dict: typed_callback checked
    if pending is None:
        return notice(NOT_PREVIEWED, "danger"), None, True, no_update, no_update, {}, no_update, no_update, no_update
    staged = StagedFile(pending["id"], pending["generation"], pending["size"])
    audit = Audit(pending["filename"], pending["sha256"], pending["rows"], description or "")
    staging = _staging()
    try:
        version = _publisher().publish_staged(staging, staged, audit, user.name, pending["base_generation"])
    except VersionConflict as conflict:
        conflict_notice = notice(_conflict_message(conflict, zone), "warning")
        return conflict_notice, None, True, no_update, no_update, {}, no_update, no_update, no_update
    except GenerationNotFound:
        message = "The uploaded file is gone (cancelled, or older than a day). Choose the file again."
        return notice(message, "danger"), None, True, no_update, None, HIDDEN, HIDDEN, no_update, ""
    except StorageError as error:
        message = f"Nothing was published: storage failed ({error}). Try again."
        return notice(message, "danger"), no_update, False, *[no_update] * 6
    staging.delete(pending["uploaded_id"])  # the upload itself, when a converted copy was published
    rows = count(pending["rows"], "row")
    message = ["Published ", version_text(version, zone), f" ({rows}). Open dashboards update within seconds."]
    # The preview and the upload's status described a file that is now live: clear them.
    return notice(message, "success"), None, True, version.generation, None, HIDDEN, HIDDEN, "", ""


def _conflict_message(conflict: VersionConflict, zone: tzinfo) -> list[Any]:
    current = conflict.current
    now: Any = version_text(current, zone) if current else "nothing live"
    return ["The live data changed since you started (now ", now, "). Nothing was published — review again."]


# -- live version and history -----------------------------------------------------------


@_admin_callback(
    Output("admin-live", "children"),
    Output("admin-history", "children"),
    Output("admin-live-version", "data"),
    Input("admin-refresh", "n_intervals"),
    Input("admin-history-stale", "data"),
    Input("admin-timezone", "data"),
    State("admin-live-version", "data"),
)
def refresh_live_version(_ticks: Any, stale_marker: Any, zone_name: str | None, shown_generation: str | None) -> tuple:
    """Show the live version; reload the history when it changes (someone published)."""
    zone = reader_zone(zone_name)
    # The shared cached check, as dashboards use: an open admin tab costs no extra storage calls.
    check = current_live_data().check_version()
    if not check.ok:
        return notice(f"Storage unreachable, retrying: {check.error}", "warning"), no_update, no_update
    live = check.version
    generation = live.generation if live else ""
    if generation == shown_generation and ctx.triggered_id == "admin-refresh":
        raise PreventUpdate
    try:
        history = history_table(_publisher().history(HISTORY_LENGTH), generation, zone)
    except StorageError as error:
        history = notice(f"History cannot be read right now: {error}", "warning")
    return describe_version(live, zone), history, generation


@_admin_callback(
    Output("admin-restore-target", "data"),
    Output("admin-restore-confirm", "message"),
    Output("admin-restore-confirm", "displayed"),
    Input({"type": "admin-restore", "generation": ALL}, "n_clicks"),
    State("admin-timezone", "data"),
    prevent_initial_call=True,
)
def ask_to_restore(clicks: list[int | None], zone_name: str | None) -> tuple:
    """Confirm before restoring the version whose button was clicked, named as the history names it."""
    if not ctx.triggered_id or not any(clicks):
        raise PreventUpdate  # the table was redrawn, nobody clicked
    generation = ctx.triggered_id["generation"]
    return generation, f"Restore {_name_of(generation, reader_zone(zone_name))} as the new live version?", True


def _name_of(generation: str, zone: tzinfo) -> str:
    """ "v3 · stocks.csv · 14:07 · alice" for a version in the history; "an earlier version" if not found."""
    try:
        old = next(
            (version for version in _publisher().history(HISTORY_LENGTH) if version.generation == generation), None
        )
    except StorageError:
        old = None
    return version_label(old, zone) if old else "an earlier version"


@_admin_callback(
    Output("admin-restore-result", "children"),
    Output("admin-history-stale", "data", allow_duplicate=True),
    Input("admin-restore-confirm", "submit_n_clicks"),
    State("admin-restore-target", "data"),
    State("admin-live-version", "data"),
    State("admin-timezone", "data"),
    prevent_initial_call=True,
)
def restore_version(
    _confirmed: Any, generation: str | None, live_generation: str | None, zone_name: str | None
) -> tuple:
    """Republish an old generation, only over the live generation the admin was looking at."""
    user = require_admin()
    if not generation:
        raise PreventUpdate
    zone = reader_zone(zone_name)
    old = _name_of(generation, zone)
    try:
        version = _publisher().restore(generation, user.name, live_generation or None)
    except VersionConflict as conflict:
        return notice(_conflict_message(conflict, zone), "warning"), f"conflict-{generation}"
    except (StorageError, DataUnavailable, ValueError) as error:
        return notice(f"{old[0].upper()}{old[1:]} cannot be restored: {error}", "danger"), no_update
    message = [f"Restored {old} as ", version_text(version, zone), "."]
    return notice(message, "success"), version.generation
