"""Entry point: the app factory, the WSGI ``server`` for gunicorn, and the command line.

python app.py --local [--data PATH] [--host H] [--port P]   # a file on disk
python app.py                                               # the bucket in GCS_BUCKET
gunicorn 'app:create_server()'                              # same app, settings from the environment
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dash
from dash import Dash
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from admin import UPLOADER_SCRIPT_URL, register_admin
from app_context import install_app_context
from app_logging import configure_logging
from auth.passwords import LOCAL_ADMIN_NAME, hash_password
from auth.web import init_auth
from callback_input import install_callback_errors
from components import live_status
from components.navbar import navbar
from components.navbar import register_callbacks as navbar_callbacks
from data_access import build_datasets, build_live_data, make_storage_client
from routes import register_routes
from routes.live import register_live_routes
from serving import add_vendored_files, allow_dash_scripts, install_serving
from settings import APP_DIR, Settings, SettingsError

APP_TITLE = "Live dashboard"
GUNICORN_WORKER_BOOT_ERROR = 3
WARM_UP_PATH = "/_warm-up"

log = logging.getLogger("live_dashboard")


def create_app(settings: Settings, storage_client: Any = None, iap_transport: Any = None) -> Dash:
    """Build a ready-to-serve Dash app for ``settings``: the chart, the admin page or both (``DASHBOARD_SERVICE``).

    ``storage_client``: a GCS client to reuse; ``iap_transport``: how IAP keys are fetched (tests).
    The one-time local admin password, when one was made, is in ``server.config["ONE_TIME_ADMIN_PASSWORD"]``.
    """
    server = Flask(__name__)
    if storage_client is None and settings.data_source == "gcs":
        storage_client = make_storage_client(settings.gcp_project, settings.storage_emulator_host)  # one for all
    live_data = build_live_data(settings, storage_client)
    datasets = build_datasets(settings, live_data, storage_client)
    install_app_context(server, settings, live_data, datasets)
    scripts, stylesheets = add_vendored_files(server)
    server.config["ONE_TIME_ADMIN_PASSWORD"] = init_auth(
        server, settings, stylesheets[0], iap_transport, login=settings.serves_admin
    )
    register_routes(server)
    if settings.serves_chart:
        register_live_routes(server, live_data, settings, datasets)
    admin_scripts = [UPLOADER_SCRIPT_URL] if settings.serves_admin else []
    app = Dash(
        __name__,
        server=server,
        use_pages=True,
        # The chart page (and the not-found page) live in pages/; the admin page is added below.
        pages_folder=str(APP_DIR / "pages") if settings.serves_chart else "",
        assets_folder=str(APP_DIR / "assets"),
        external_stylesheets=stylesheets,
        external_scripts=scripts + admin_scripts,
        serve_locally=True,
        title=APP_TITLE,
        update_title=None,  # polls must not make the tab title flicker
        health_endpoint="healthz",
        # Otherwise Dash embeds every page's layout (the admin page's too) in the public index.
        suppress_callback_exceptions=True,
    )
    app.layout = dash.html.Div([navbar(APP_TITLE, catalog=datasets is not None), dash.page_container])
    if settings.serves_chart:
        live_status.register_callbacks(app)
    if settings.serves_admin:
        register_admin(app, home=not settings.serves_chart)
    install_callback_errors(server)
    policy = install_serving(app, settings)
    navbar_callbacks(app)
    # The admin service sends / to its page: render the index at a path that is no page instead.
    _warm_up(server, "/" if settings.serves_chart else WARM_UP_PATH)
    allow_dash_scripts(app, policy)
    if settings.on_app_engine:
        # Behind App Engine's front end: trust its one hop for client address and scheme.
        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=1, x_proto=1)  # type: ignore[method-assign]
    return app


def _warm_up(server: Flask, path: str) -> None:
    """Render the index (at ``path``) once, so that a worker has set up its routes and callbacks.

    Under gunicorn, a worker that had not rendered it yet once answered 500 to Dash's component scripts.
    """
    with server.test_client() as client:
        response = client.get(path)
        # Dash's index at a path that is no page says 404 (routes.register_routes).
        if response.status_code not in (200, 404) or response.mimetype != "text/html":
            raise RuntimeError(f"the app failed to render its index page (HTTP {response.status_code})")


def create_server() -> Flask:
    """The Flask server of an app built from the environment: ``gunicorn 'app:create_server()'``."""
    try:
        settings = Settings.from_env()
        server = create_app(settings).server
    except SettingsError as error:
        print(f"live-dashboard: {error}", file=sys.stderr, flush=True)
        # 3 is gunicorn's "worker failed to boot": the master stops instead of respawning.
        raise SystemExit(GUNICORN_WORKER_BOOT_ERROR) from None
    configure_logging(settings.log_format, settings.gcp_project)
    log.info("serving %s", settings.data_location)
    return server


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Live dashboard over data in a GCS blob or a local file.")
    parser.add_argument(
        "command",
        nargs="?",
        choices=["run", "hash-password"],
        default="run",
        help="run the app (default) or print a password hash for ADMIN_USERS",
    )
    parser.add_argument("--local", action="store_true", help="read a file on disk instead of the bucket")
    parser.add_argument(
        "--data", type=Path, help="the local data file, or a folder whose every file is a dataset (default: the sample)"
    )
    parser.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8050)")
    parser.add_argument("--debug", action="store_true", help="Dash dev tools and auto-reload")
    parser.add_argument("--user", help="hash-password: print NAME:HASH, ready for ADMIN_USERS")
    return parser.parse_args(argv)


def settings_from_args(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Settings:
    """Environment first, then the flags given on the command line (development unless APP_ENV says).

    On a file on disk (``make run``) any table with a header row can be published unless
    ``DATA_SCHEMA`` says otherwise: someone trying the app brings their own table first.
    """
    env = os.environ if environ is None else environ
    local = bool(args.local or args.data)
    return Settings.from_env(
        env,
        default_app_env="development",
        data_source="local" if local else None,
        local_data_path=args.data,
        host=args.host,
        port=args.port,
        data_schema="" if local and "DATA_SCHEMA" not in env else None,
    )


def print_password_hash(user: str | None) -> int:
    """Read a password (prompting on a terminal, else one line of stdin) and print its hash."""
    if user is not None and not re.fullmatch(r"[A-Za-z0-9_.@+-]{1,64}", user):
        print("live-dashboard: a user name may use letters, digits and _ . @ + - only", file=sys.stderr)
        return 2
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("live-dashboard: the passwords differ", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        print("live-dashboard: use at least 8 characters", file=sys.stderr)
        return 2
    password_hash = hash_password(password)
    print(f"{user}:{password_hash}" if user else password_hash)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "hash-password":
        return print_password_hash(args.user)
    try:
        settings = settings_from_args(args)
        app = create_app(settings)
    except SettingsError as error:
        print(f"live-dashboard: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_format, settings.gcp_project)
    logging.getLogger("dash").propagate = False  # Dash prints through its own handler already
    print(f"Live dashboard on http://{settings.host}:{settings.port}/  (data: {settings.data_location})", flush=True)
    one_time_password = app.server.config.get("ONE_TIME_ADMIN_PASSWORD")
    if one_time_password:
        print(
            f"Admin page: http://{settings.host}:{settings.port}/admin  — sign in as "
            f"'{LOCAL_ADMIN_NAME}' with one-time password {one_time_password}  (this run only)",
            flush=True,
        )
    app.run(host=settings.host, port=settings.port, debug=args.debug)
    return 0


if __name__ == "__main__":
    sys.exit(main())
