"""Settings from the environment and CLI flags; bad settings stop start-up with one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from settings import SAMPLE_DATA_PATH, Settings, SettingsError

REPO = Path(__file__).resolve().parents[1]


def test_defaults_match_the_documented_ones():
    settings = Settings.from_env({"GCS_BUCKET": "b"}, default_app_env="development")
    assert (settings.data_source, settings.gcs_blob, settings.port) == ("gcs", "data/data.csv", 8050)
    assert settings.poll_interval_seconds == 5
    assert settings.cache_type == "SimpleCache"
    assert (settings.max_upload_mb, settings.frame_memory_mb, settings.upload_chunk_mb) == (1024, 512, 64)


def test_environment_is_read_and_flags_override_it():
    env = {"DATA_SOURCE": "gcs", "GCS_BUCKET": "b", "PORT": "9000", "POLL_INTERVAL_SECONDS": "2.5"}
    settings = Settings.from_env(env, default_app_env="development", port=9100, data_source="local")
    assert settings.port == 9100
    assert settings.poll_interval_seconds == 2.5
    assert settings.data_source == "local" and settings.local_data_path == SAMPLE_DATA_PATH


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATA_SOURCE": "gcs"}, "GCS_BUCKET"),
        ({"DATA_SOURCE": "local", "LOCAL_DATA_PATH": "/nonexistent/x.csv"}, "is neither a file nor a folder"),
        ({"DATA_SOURCE": "local", "POLL_INTERVAL_SECONDS": "soon"}, "POLL_INTERVAL_SECONDS must be a number"),
        ({"DATA_SOURCE": "local", "CACHE_TYPE": "simple"}, "CACHE_TYPE must be 'SimpleCache', "),
        ({"DATA_SOURCE": "local", "CACHE_TYPE": "RedisCache"}, "CACHE_REDIS_URL"),
        ({"DATA_SOURCE": "ftp"}, "DATA_SOURCE must be"),
        ({"DATA_SOURCE": "local", "POLL_INTERVAL_SECONDS": "nan"}, "finite number"),
        ({"DATA_SOURCE": "local", "VERSION_CACHE_SECONDS": "inf"}, "finite number"),
        ({"DATA_SOURCE": "local", "LOGIN_RATE_LIMIT": "lots"}, "LOGIN_RATE_LIMIT must look like"),
        ({"DATA_SOURCE": "local", "CACHE_TYPE": "FileSystemCache", "CACHE_DIR": "/proc/no-cache-here"}, "CACHE_DIR"),
        ({"DATA_SOURCE": "local", "FRAME_MEMORY_MB": "0"}, "FRAME_MEMORY_MB must be at least 1"),
        ({"DATA_SOURCE": "local", "LOGIN_ACCOUNT_RATE_LIMIT": "x"}, "LOGIN_ACCOUNT_RATE_LIMIT must look like"),
        ({"DATA_SOURCE": "local", "LOGIN_CONCURRENCY": "0"}, "LOGIN_CONCURRENCY"),
        ({"DATA_SOURCE": "local", "SESSION_LIFETIME_HOURS": "0"}, "SESSION_LIFETIME_HOURS"),
        ({"DATA_SOURCE": "local", "SESSION_IDLE_MINUTES": "9999"}, "SESSION_IDLE_MINUTES"),
        ({"DATA_SOURCE": "local", "MAX_REQUEST_KB": "0"}, "MAX_REQUEST_KB"),
        ({"DATA_SOURCE": "local", "STORAGE_DEADLINE_SECONDS": "0"}, "STORAGE_DEADLINE_SECONDS"),
        ({"DATA_SOURCE": "local", "UPLOAD_CHUNK_MB": "0.1"}, "UPLOAD_CHUNK_MB must be a multiple of 0.25"),
        ({"DATA_SOURCE": "local", "UPLOAD_CHUNK_MB": "8.1"}, "UPLOAD_CHUNK_MB must be a multiple of 0.25"),
        ({"DATA_SOURCE": "local", "UPLOAD_CHUNK_MB": "2048"}, "UPLOAD_CHUNK_MB must be a multiple of 0.25"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env, default_app_env="development")


def test_cli_prints_one_line_and_exits_2_on_bad_settings():
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "DATA_SOURCE": "gcs", "APP_ENV": "development"},
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "GCS_BUCKET" in result.stderr


STRONG_KEY = "k3y-" + "abcdefghijklmnopqrstuvwxyz0123456789"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "strong SECRET_KEY"),
        ({"SECRET_KEY": "changeme"}, "strong SECRET_KEY"),
        ({"SECRET_KEY": "a" * 40}, "strong SECRET_KEY"),
        ({"SECRET_KEY": STRONG_KEY}, "needs an admin"),
        ({"SECRET_KEY": STRONG_KEY, "AUTH_MODE": "iap", "ADMIN_EMAILS": "a@example.com"}, "IAP_AUDIENCE"),
        ({"SECRET_KEY": STRONG_KEY, "AUTH_MODE": "iap", "IAP_AUDIENCE": "/projects/1/apps/p"}, "ADMIN_EMAILS"),
    ],
)
def test_production_refuses_weak_secrets_and_missing_admins(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({"DATA_SOURCE": "local", **env})


def test_production_starts_with_secret_and_admin():
    settings = Settings.from_env({"DATA_SOURCE": "local", "SECRET_KEY": STRONG_KEY, "ADMIN_USERS": "alice:x"})
    assert settings.app_env == "production"


def test_make_run_accepts_any_table_unless_data_schema_says_otherwise():
    from app import parse_args, settings_from_args
    from data_access.validation import Schema

    local = settings_from_args(parse_args(["--local"]), {})
    assert local.data_schema == ""
    assert Schema.parse(local.data_schema, None, None).required == {}  # any table with a header row
    chosen = settings_from_args(parse_args(["--local"]), {"DATA_SCHEMA": "first_num:numeric"})
    assert chosen.data_schema == "first_num:numeric"
    # A deployment (the bucket) keeps the schema it is given, the sample's by default.
    deployed = settings_from_args(parse_args([]), {"GCS_BUCKET": "b"})
    assert deployed.data_schema == "first_num:numeric,second_num:numeric"


def test_settings_are_frozen_empty_means_unset_and_whole_numbers_stay_whole():
    settings = Settings.from_env({"GCS_BUCKET": "b", "PORT": " ", "MAX_ROWS": "1e3"}, default_app_env="development")
    assert settings.port == 8050 and settings.max_rows == 1000
    with pytest.raises(ValueError, match="frozen"):
        settings.port = 1
    with pytest.raises(SettingsError, match=r"^MAX_ROWS must be a whole number, got '2\.5'$"):
        Settings.from_env({"GCS_BUCKET": "b", "MAX_ROWS": "2.5"}, default_app_env="development")


@pytest.mark.parametrize(
    ("admin_users", "message"),
    [("alice", "ADMIN_USERS entry 1 is not name:hash"), ("a:x$1,A:y$2", "entry 2 repeats the name 'a'")],
)
def test_unreadable_admin_users_stop_start_up_with_one_line(admin_users, message):
    from auth.passwords import AdminDirectory

    with pytest.raises(SettingsError, match=message):
        AdminDirectory.from_settings(admin_users, "")
