"""DASHBOARD_SERVICE: the public chart service holds no admin code; the admin service holds the admin page.

Asserted through real apps built by the factory: routes answered, the index's scripts, and
callback requests sent the way the browser sends them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from app import create_app
from settings import Settings, SettingsError
from testinfra.dash_registry import reset_dash_registries
from testinfra.dash_requests import well_formed_body
from tests.conftest import SAMPLE_CSV

REPO = Path(__file__).resolve().parents[1]
ADMIN_SCRIPT = "admin_upload.js"
ORIGIN = "http://localhost"


def _settings(tmp_path: Path, service: str) -> Settings:
    tmp_path.mkdir(exist_ok=True)
    data = tmp_path / "data.csv"
    data.write_bytes(SAMPLE_CSV)
    return Settings.from_env(
        {"DASHBOARD_SERVICE": service}, app_env="development", data_source="local", local_data_path=data
    )


def _dependencies(app: Any) -> list[dict[str, Any]]:
    dependencies = app.server.test_client().get("/_dash-dependencies").json
    return [item for item in dependencies if not item["clientside_function"]]


@pytest.fixture()
def admin_bodies(tmp_path: Path) -> list[dict[str, Any]]:
    """Well-formed bodies for every admin callback, read from an app that serves both."""
    both = create_app(_settings(tmp_path / "all", "all"))
    bodies = [well_formed_body(item) for item in _dependencies(both) if "admin-" in item["output"]]
    reset_dash_registries()
    assert len(bodies) >= 5  # preview, publish, refresh, ask to restore, restore
    return bodies


def _index_scripts(client: Any, path: str = "/") -> list[str]:
    return re.findall(r'<script[^>]* src="([^"]+)"', client.get(path).get_data(as_text=True))


def test_unknown_service_is_refused_with_one_line(tmp_path):
    with pytest.raises(SettingsError, match="DASHBOARD_SERVICE must be 'chart', 'admin' or 'all'"):
        _settings(tmp_path, "public")


def test_chart_service_has_no_admin_page_routes_or_sign_in(tmp_path):
    client = create_app(_settings(tmp_path, "chart")).server.test_client()
    assert client.get("/").status_code == 200
    assert client.get("/admin").status_code == 404
    assert client.get("/login").status_code == 404
    start = client.post("/admin/upload/start", json={"filename": "a.csv", "size": 10}, headers={"Origin": ORIGIN})
    assert start.status_code in (404, 405)
    assert client.get(f"/admin/static/{ADMIN_SCRIPT}").status_code == 404
    assert client.get(f"/assets/{ADMIN_SCRIPT}").status_code == 404


def test_chart_service_index_loads_no_admin_script(tmp_path):
    client = create_app(_settings(tmp_path, "chart")).server.test_client()
    scripts = _index_scripts(client)
    assert any("plotly-strict" in src for src in scripts)  # control: the scripts were found
    assert not any(ADMIN_SCRIPT in src for src in scripts), scripts


def test_chart_service_refuses_admin_callbacks_as_unknown(tmp_path, admin_bodies):
    app = create_app(_settings(tmp_path, "chart"))
    assert not any("admin-" in item["output"] for item in _dependencies(app))
    client = app.server.test_client()
    for body in admin_bodies:
        response = client.post("/_dash-update-component", json=body)
        assert response.status_code == 400, body["output"]
        assert response.get_data(as_text=True).startswith("Malformed callback request")


def test_admin_service_sends_its_front_door_to_the_admin_page(tmp_path):
    client = create_app(_settings(tmp_path, "admin")).server.test_client()
    front = client.get("/")
    assert front.status_code == 302 and front.headers["Location"] == "/admin"
    assert client.get("/admin").headers["Location"] == "/login?next=/admin"
    assert client.get("/login").status_code == 200
    assert client.get(f"/admin/static/{ADMIN_SCRIPT}").status_code == 200


def test_admin_service_has_no_chart_callbacks_or_live_routes(tmp_path):
    app = create_app(_settings(tmp_path, "admin"))
    outputs = [item["output"] for item in _dependencies(app)]
    assert any("admin-publish-result" in output for output in outputs)
    assert not any("chart-graph" in output for output in outputs)
    assert app.server.test_client().get("/live/version").status_code == 404


def test_admin_service_callbacks_refuse_anonymous_well_formed_calls(tmp_path, admin_bodies):
    client = create_app(_settings(tmp_path, "admin")).server.test_client()
    statuses = [client.post("/_dash-update-component", json=body).status_code for body in admin_bodies]
    assert statuses == [403] * len(admin_bodies)


def test_admin_service_refuses_wrong_typed_values_with_400(tmp_path, admin_bodies):
    app = create_app(_settings(tmp_path, "admin"))
    client = app.server.test_client()
    password = app.server.config["ONE_TIME_ADMIN_PASSWORD"]
    assert client.post("/login", data={"username": "admin", "password": password}).status_code == 302
    publish = next(body for body in admin_bodies if "admin-publish-result" in body["output"].split("...")[0])
    publish["inputs"][0]["value"] = "3"  # n_clicks: a count, never text
    response = client.post("/_dash-update-component", json=publish)
    assert response.status_code == 400
    assert "Malformed callback request" in response.get_data(as_text=True)
    publish["inputs"][0]["value"] = None
    assert client.post("/_dash-update-component", json=publish).status_code == 204  # control: nothing to publish


def test_only_a_service_with_the_admin_page_needs_an_admin_in_production(tmp_path):
    environ = {"SECRET_KEY": "k" + "".join(chr(65 + i % 26) for i in range(40)), "APP_ENV": "production"}
    local = {"data_source": "local", "local_data_path": _settings(tmp_path, "all").local_data_path}
    assert Settings.from_env({**environ, "DASHBOARD_SERVICE": "chart"}, **local).serves_admin is False
    for service in ("admin", "all"):
        with pytest.raises(SettingsError, match="needs an admin"):
            Settings.from_env({**environ, "DASHBOARD_SERVICE": service}, **local)


def test_each_deploy_file_names_its_service():
    app_engine = {
        name: yaml.safe_load((REPO / name).read_text())["env_variables"] for name in ("app.yaml", "admin.yaml")
    }
    cloud_run = yaml.safe_load((REPO / "service.yaml").read_text())["spec"]["template"]["spec"]["containers"][0]
    assert app_engine["app.yaml"]["DASHBOARD_SERVICE"] == "chart"
    assert app_engine["admin.yaml"]["DASHBOARD_SERVICE"] == "admin"
    assert {"name": "DASHBOARD_SERVICE", "value": "chart"} in cloud_run["env"]
