"""app.yaml / admin.yaml: the entry point gunicorn runs, and every variable they set is a real, documented setting."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import pytest
import yaml
from werkzeug.security import generate_password_hash

from settings import GunicornSettings, Settings

REPO = Path(__file__).resolve().parents[1]
DEPLOY_FILES = ["app.yaml", "admin.yaml"]
PLATFORM_VARIABLES = {"GAE_ENV"}  # set by App Engine itself, never by an operator


def _load(name: str) -> dict:
    return yaml.safe_load((REPO / name).read_text())


def _documented_variables() -> set[str]:
    """Names in the first column of the settings tables: README's, and the process settings in
    docs/operations.md (`A` / `B` rows name two)."""
    text = (REPO / "README.md").read_text() + (REPO / "docs" / "operations.md").read_text()
    names = set()
    for line in text.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", first_cell))
    return names


def _variables_read_by_code() -> set[str]:
    """Environment variables the settings classes read (App Engine's own excepted), and any read by hand."""
    names = set()
    for settings_class in (Settings, GunicornSettings):
        names.update(name for names_of_field in settings_class.env_names().values() for name in names_of_field)
    for path in REPO.glob("*.py"):
        names.update(re.findall(r'\b(?:os\.environ|env)(?:\.get\(|\[)\s*"([A-Z][A-Z0-9_]+)"', path.read_text()))
    return names - PLATFORM_VARIABLES


@pytest.mark.parametrize("name", DEPLOY_FILES)
def test_entrypoint_is_gunicorn_on_app_server_with_the_config_file(name):
    config = _load(name)
    assert config["runtime"].startswith("python3")
    # gunicorn reads ./gunicorn.conf.py by itself; flags on the command line would override it.
    assert config["entrypoint"] == "gunicorn 'app:create_server()'"
    assert (REPO / "gunicorn.conf.py").is_file()
    assert "secrets.yaml" in config["includes"]
    assert "secrets.yaml" in (REPO / ".gitignore").read_text().split()


@pytest.mark.parametrize("name", DEPLOY_FILES)
def test_every_variable_set_is_a_documented_setting(name):
    variables = set(_load(name)["env_variables"])
    variables |= set(yaml.safe_load((REPO / "secrets.example.yaml").read_text())["env_variables"])
    undocumented = variables - _documented_variables()
    assert not undocumented, f"{name} sets variables the settings tables do not describe: {undocumented}"


def test_every_variable_the_code_reads_is_documented():
    missing = _variables_read_by_code() - _documented_variables()
    assert not missing, f"read by the code but not in a settings table: {missing}"


@pytest.mark.parametrize("name", DEPLOY_FILES)
def test_the_files_values_pass_the_settings_checks(name):
    env = {key: str(value) for key, value in _load(name)["env_variables"].items()}
    env["SECRET_KEY"] = secrets.token_urlsafe(48)  # secrets.yaml's placeholder is refused, as it should be
    env["ADMIN_USERS"] = f"alice:{generate_password_hash('x' * 12)}"
    settings = Settings.from_env(env)
    assert settings.app_env == "production" and settings.log_format == "json"
    assert settings.cache_type == "RedisCache"


@pytest.mark.parametrize("name", DEPLOY_FILES)
def test_probes_and_network(name, make_app, local_csv):
    config = _load(name)
    assert config["liveness_check"]["path"] == "/healthz"
    assert config["readiness_check"]["path"] == "/readyz"
    # Memorystore has only a private address: the connector is what makes CACHE_REDIS_URL reachable.
    assert config["vpc_access_connector"]["name"].startswith("projects/")
    assert all(handler.get("secure") == "always" for handler in config["handlers"])
    client = make_app(
        Settings.from_env({}, app_env="development", data_source="local", local_data_path=local_csv)
    ).server.test_client()
    assert client.get(config["liveness_check"]["path"]).status_code == 200
    assert client.get(config["readiness_check"]["path"]).status_code == 200


def test_both_services_share_one_cache_and_bucket():
    chart, admin = (_load(name)["env_variables"] for name in DEPLOY_FILES)
    for key in ("GCS_BUCKET", "GCS_BLOB", "CACHE_TYPE", "CACHE_REDIS_URL"):
        assert chart[key] == admin[key], key
    assert admin["AUTH_MODE"] == "iap"


def _gunicorn_config(env: dict[str, str], monkeypatch) -> object:
    """gunicorn.conf.py executed with ``env`` as the environment, as gunicorn executes it."""
    import importlib.util

    names = ("GUNICORN_WORKERS", "WEB_CONCURRENCY", "GAE_MEMORY_MB", "GUNICORN_THREADS", "GUNICORN_WORKER_CLASS")
    for key in (*names, "GAE_ENV", "PORT", "NUMPY_MADVISE_HUGEPAGE"):
        monkeypatch.setenv(key, "")  # recorded, so what the file sets by default is undone too
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    spec = importlib.util.spec_from_file_location("gunicorn_conf", REPO / "gunicorn.conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_workers_run_numpy_on_small_pages_unless_told_otherwise(monkeypatch):
    # gunicorn.conf.py runs before any worker imports numpy, which reads this once.
    _gunicorn_config({}, monkeypatch)
    assert os.environ["NUMPY_MADVISE_HUGEPAGE"] == "0"
    _gunicorn_config({"NUMPY_MADVISE_HUGEPAGE": "1"}, monkeypatch)
    assert os.environ["NUMPY_MADVISE_HUGEPAGE"] == "1"


@pytest.mark.parametrize(("memory_mb", "workers"), [("384", 1), ("768", 2), ("1536", 4), ("3072", 4)])
def test_workers_follow_the_instance_class_memory(memory_mb, workers, monkeypatch):
    config = _gunicorn_config({"GAE_MEMORY_MB": memory_mb, "GAE_ENV": "standard", "PORT": "8081"}, monkeypatch)
    assert config.workers == workers and config.worker_class == "asgi_worker.DashboardWorker"
    assert config.bind == "0.0.0.0:8081"


def test_gunicorn_settings_come_from_the_environment(monkeypatch):
    config = _gunicorn_config({"GUNICORN_WORKERS": "3", "GUNICORN_THREADS": "5", "GUNICORN_TIMEOUT": "45"}, monkeypatch)
    assert (config.workers, config.threads, config.timeout) == (3, 5, 45)
    assert config.bind == "127.0.0.1:8050"  # off App Engine: the app's own HOST/PORT defaults
    assert 0 < config.max_requests_jitter < config.max_requests
    with pytest.raises(SystemExit, match="GUNICORN_THREADS must be a whole number"):
        _gunicorn_config({"GUNICORN_THREADS": "many"}, monkeypatch)


def _cloud_run_env() -> dict[str, str]:
    container = _load("service.yaml")["spec"]["template"]["spec"]["containers"][0]
    return {item["name"]: item.get("value", "") for item in container["env"]}


def test_cloud_run_streams_and_shares_the_cache_with_app_engine():
    service = _load("service.yaml")
    template = service["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert template["spec"]["timeoutSeconds"] == 3600  # a stream is one long request
    assert template["spec"]["containerConcurrency"] == 1000  # each open stream holds one
    assert int(annotations["autoscaling.knative.dev/minScale"]) >= 1
    assert annotations["run.googleapis.com/vpc-access-connector"].startswith("projects/")
    container = template["spec"]["containers"][0]
    assert [container["command"][0], *container["args"]] == ["gunicorn", "app:create_server()"]
    env = _cloud_run_env()
    chart = _load("app.yaml")["env_variables"]
    for key in ("GCS_BUCKET", "GCS_BLOB", "CACHE_TYPE", "CACHE_REDIS_URL"):
        assert env[key] == chart[key], key
    assert env["LIVE_PUSH"] == "auto"
    assert chart["LIVE_PUSH"] == "off"  # App Engine standard buffers streams: checks only
    undocumented = set(env) - _documented_variables()
    assert not undocumented, f"service.yaml sets variables the settings tables do not describe: {undocumented}"
    env["SECRET_KEY"] = secrets.token_urlsafe(48)  # from Secret Manager in the service
    env["ADMIN_USERS"] = f"alice:{generate_password_hash('x' * 12)}"
    settings = Settings.from_env(env)
    assert settings.cache_type == "RedisCache" and settings.live_push == "auto"


def test_gunicorn_reads_host_and_port_through_the_apps_settings(monkeypatch):
    config = _gunicorn_config({"HOST": "127.0.0.2", "PORT": "9001"}, monkeypatch)
    assert config.bind == "127.0.0.2:9001"
    with pytest.raises(SystemExit, match="PORT must be a whole number, got 'eighty'"):
        _gunicorn_config({"PORT": "eighty"}, monkeypatch)
