"""Attacks on every admin endpoint: anonymous, forged, cross-origin, sessionless. None may write.

Every admin callback is found from the app's own ``/_dash-dependencies`` and sent a
request that *would* publish or restore if it were let through, so a callback that
forgot its own check makes these tests fail.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from typing import Any

import pytest
from werkzeug.security import generate_password_hash

from auth.passwords import hash_password
from testinfra import SAMPLE_CSV
from testinfra.dash_requests import callback_payload, chart_answer
from tests.auth.iap_tokens import AUDIENCE, KeyPair, KeyServer

ADMIN_PASSWORD = "correct horse battery staple"
SECRET = "a-test-secret-that-is-long-and-random-0123456789"
EVIL_CSV = b"ID,first_num,second_num\n666,6,6\n"
IAP_KEY = KeyPair("iap-test-key")
# What the browser's page router sends when someone opens /admin.
ROUTE_TO_ADMIN = callback_payload(
    ["_pages_content.children", "_pages_store.data"],
    {"_pages_location.pathname": "/admin", "_pages_location.search": ""},
)


@pytest.fixture(scope="module")
def admin_hash() -> str:
    return hash_password(ADMIN_PASSWORD)


@pytest.fixture()
def secured(bucket, gcs_settings, make_app, admin_hash):
    """An app on an emulator bucket holding two generations, and a way to read the bucket state."""
    blob = bucket.blob("data/data.csv")
    blob.upload_from_string(SAMPLE_CSV)
    first_generation = str(blob.generation)
    blob.upload_from_string(SAMPLE_CSV + b"4,4,4\n")
    settings = gcs_settings.with_overrides(admin_users=f"alice:{admin_hash}", login_rate_limit="3 per minute")
    app = make_app(settings)

    def bucket_state() -> tuple[str, int]:
        live = bucket.get_blob("data/data.csv")
        return str(live.generation), len(list(bucket.list_blobs(versions=True)))

    return app, first_generation, bucket_state


def _login(client: Any, password: str = ADMIN_PASSWORD, **headers: str) -> Any:
    return client.post("/login", data={"username": "alice", "password": password, "next": "/admin"}, headers=headers)


def _session_cookie(response: Any) -> str:
    return next(cookie for cookie in response.headers.getlist("Set-Cookie") if "live_dashboard_session=" in cookie)


def test_a_sign_in_remembers_the_browser_in_a_cookie_only_sent_back_to_this_host(secured):
    app, _, _ = secured
    cookies = _login(app.server.test_client()).headers.getlist("Set-Cookie")
    device = next(cookie for cookie in cookies if "live_dashboard_device=" in cookie)
    assert "HttpOnly" in device and "SameSite=Strict" in device and "Path=/" in device


def _parse_output_key(output_key: str) -> list[dict[str, Any]]:
    parts = output_key[2:-2].split("...") if output_key.startswith("..") else [output_key]
    outputs = []
    for part in parts:
        component, prop = part.split("@")[0].rsplit(".", 1)
        outputs.append({"id": json.loads(component) if component.startswith("{") else component, "property": prop})
    return outputs


def _is_admin_id(component_id: Any) -> bool:
    name = component_id.get("type", "") if isinstance(component_id, dict) else component_id
    return str(name).startswith("admin-")


def _dangerous_values(first_generation: str, live_generation: str) -> dict[str, Any]:
    """Values that make each admin callback write, were it to run for an attacker."""
    return {
        "admin-staged.data": {"token": "forged", "filename": "evil.csv"},
        "admin-description.value": "evil",
        "admin-pending.data": {"sha256": hashlib.sha256(EVIL_CSV).hexdigest(), "base_generation": live_generation},
        "admin-restore-target.data": first_generation,
        "admin-live-version.data": live_generation,
        "admin-timezone.data": "Europe/Paris",
        "admin-dataset.data": None,
        "admin-upload-ready.data": {"filename": "evil.csv"},
    }


def _forged_requests(client: Any, first_generation: str, live_generation: str) -> list[dict[str, Any]]:
    values = _dangerous_values(first_generation, live_generation)
    requests = []
    for dependency in client.get("/_dash-dependencies").json:
        outputs = _parse_output_key(dependency["output"])
        if not any(_is_admin_id(output["id"]) for output in outputs) or dependency.get("clientside_function"):
            continue
        inputs = [_forged_input(spec, values) for spec in dependency["inputs"]]
        first = inputs[0][0] if isinstance(inputs[0], list) else inputs[0]
        # The renderer names a pattern-matching trigger by its concrete id, keys sorted, no spaces.
        trigger = (
            json.dumps(first["id"], sort_keys=True, separators=(",", ":"))
            if isinstance(first["id"], dict)
            else first["id"]
        )
        requests.append(
            {
                "output": dependency["output"],
                "outputs": outputs if len(outputs) > 1 else outputs[0],
                "inputs": inputs,
                "state": [_forged_input(spec, values) for spec in dependency["state"]],
                "changedPropIds": [f"{trigger}.{first['property']}"],
            }
        )
    return requests


def _forged_input(spec: dict[str, Any], values: dict[str, Any]) -> Any:
    key = f"{spec['id']}.{spec['property']}"
    if spec["id"].startswith("{"):  # pattern-matching (ALL): a list of matches
        pattern = json.loads(spec["id"])
        return [
            {
                "id": {**pattern, "generation": values["admin-restore-target.data"]},
                "property": spec["property"],
                "value": 1,
            }
        ]
    return {"id": spec["id"], "property": spec["property"], "value": values.get(key, 1)}


def _assert_all_refused(
    client: Any, requests: list[dict], bucket_state, refusals: tuple[int, ...] = (403,), **headers: str
) -> None:
    before = bucket_state()
    statuses = [client.post("/_dash-update-component", json=body, headers=headers).status_code for body in requests]
    assert all(status in refusals for status in statuses), statuses
    assert bucket_state() == before


def test_every_admin_callback_is_found(secured):
    app, first, bucket_state = secured
    requests = _forged_requests(app.server.test_client(), first, bucket_state()[0])
    names = {body["output"].split("@")[0] for body in requests}
    assert len(requests) >= 5, names  # preview, publish, refresh, ask-to-restore, restore


def test_the_forged_requests_would_write_for_an_admin(secured):
    """Control: the same requests, from a signed-in admin, really do publish (so refusals mean something)."""
    app, first, bucket_state = secured
    client = app.server.test_client()
    assert _login(client).status_code == 302
    before = bucket_state()
    for body in _forged_requests(client, first, before[0]):
        client.post("/_dash-update-component", json=body)
    assert bucket_state() != before


def test_anonymous_admin_callbacks_are_refused(secured):
    app, first, bucket_state = secured
    client = app.server.test_client()
    _assert_all_refused(client, _forged_requests(client, first, bucket_state()[0]), bucket_state)


def test_relabelled_pathname_input_is_refused(secured):
    """An extra input claiming to be the page router's pathname is a call no callback takes (400), never a write."""
    app, first, bucket_state = secured
    client = app.server.test_client()
    requests = _forged_requests(client, first, bucket_state()[0])
    for body in requests:
        body["inputs"].append({"id": "_pages_location", "property": "pathname", "value": "/"})
        if isinstance(body["inputs"][0], dict):
            body["inputs"][0]["property"] = "pathname"
    _assert_all_refused(client, requests, bucket_state, refusals=(400,))


def test_cross_origin_posts_are_refused_even_with_an_admin_session(secured):
    app, first, bucket_state = secured
    client = app.server.test_client()
    assert _login(client).status_code == 302
    requests = _forged_requests(client, first, bucket_state()[0])
    _assert_all_refused(client, requests, bucket_state, Origin="https://evil.example")
    _assert_all_refused(client, requests, bucket_state, **{"Sec-Fetch-Site": "cross-site"})
    assert _login(app.server.test_client(), Origin="https://evil.example").status_code == 403


def test_missing_or_forged_session_is_refused(secured):
    app, first, bucket_state = secured
    client = app.server.test_client()
    assert _login(client).status_code == 302
    requests = _forged_requests(client, first, bucket_state()[0])
    client.delete_cookie("live_dashboard_session")
    _assert_all_refused(client, requests, bucket_state)
    client.set_cookie("live_dashboard_session", "eyJhZG1pbl91c2VyIjoiYWxpY2UifQ.forged.signature")
    _assert_all_refused(client, requests, bucket_state)


def test_logout_ends_the_session(secured):
    app, first, bucket_state = secured
    client = app.server.test_client()
    _login(client)
    assert client.post("/logout").status_code == 302
    _assert_all_refused(client, _forged_requests(client, first, bucket_state()[0]), bucket_state)


def test_public_index_and_page_router_never_send_the_admin_layout(secured):
    app, _, _ = secured
    client = app.server.test_client()
    for path in ("/", "/admin/", "/anything"):
        html = client.get(path).get_data(as_text=True)
        assert "admin-upload" not in html and "admin-publish" not in html
    routed = client.post(
        "/_dash-update-component",
        json=ROUTE_TO_ADMIN,
    )
    assert routed.status_code == 200
    body = routed.get_data(as_text=True)
    assert "admin-" not in body
    assert "login-redirect" in body


def test_admin_page_sends_anonymous_users_to_login_and_back(secured):
    app, _, _ = secured
    client = app.server.test_client()
    response = client.get("/admin")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login?next=/admin")
    assert _login(client, password="wrong").status_code == 401
    signed_in = _login(client)
    assert signed_in.headers["Location"] == "/admin"
    assert "admin-upload" in client.post(
        "/_dash-update-component",
        json=ROUTE_TO_ADMIN,
    ).get_data(as_text=True)


def test_login_never_redirects_off_site(secured):
    app, _, _ = secured
    client = app.server.test_client()
    signed_in = client.post("/login", data={"username": "alice", "password": ADMIN_PASSWORD, "next": "//evil.example"})
    assert signed_in.headers["Location"] == "/admin"
    # Signed in, /login sends straight on to "next": every off-site form must fall back to /admin.
    for target in (
        "//evil.example/x",
        "https://evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/%09/evil.example",
        "/admin/..//evil.example",
    ):
        assert client.get("/login", query_string={"next": target}).headers["Location"] == "/admin", target


def test_session_cookie_flags(secured):
    app, _, _ = secured
    cookie = _session_cookie(_login(app.server.test_client()))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_login_attempts_are_rate_limited(secured):
    app, _, _ = secured
    client = app.server.test_client()
    statuses = [_login(client, password=f"guess-{attempt}").status_code for attempt in range(4)]
    assert statuses == [401, 401, 401, 429]
    assert _login(client).status_code == 429  # even the right password waits


def test_iap_mode_trusts_only_a_verified_assertion(bucket, gcs_settings, make_app):
    bucket.blob("data/data.csv").upload_from_string(SAMPLE_CSV)
    settings = gcs_settings.with_overrides(auth_mode="iap", iap_audience=AUDIENCE, admin_emails="boss@example.com")
    app = make_app(settings, iap_transport=KeyServer(IAP_KEY))
    client = app.server.test_client()
    header = "x-goog-iap-jwt-assertion"

    assert client.get("/admin").status_code == 403
    assert (
        client.get(
            "/admin", headers={"x-goog-authenticated-user-email": "accounts.google.com:boss@example.com"}
        ).status_code
        == 403
    )
    assert client.get("/admin", headers={header: IAP_KEY.sign(email="intern@example.com")}).status_code == 403
    assert (
        client.get("/admin", headers={header: KeyPair(IAP_KEY.key_id).sign(email="boss@example.com")}).status_code
        == 403
    )
    assert client.get("/admin", headers={header: IAP_KEY.sign(email="boss@example.com")}).status_code == 200


def test_chart_draws_only_generations_the_server_handed_out(secured):
    """An old (rolled-back) or made-up generation cannot be read through the public chart."""
    app, first, _ = secured
    client = app.server.test_client()
    forged = [
        {"generation": first},
        {"generation": "abc"},
        {"generation": "../../../etc/passwd"},
        {"generation": first, "token": "forged.token"},
    ]
    # Refused (a path that is no generation does not even reach the route).
    assert [chart_answer(client, {"token": None, **shown}).status_code for shown in forged] == [403, 403, 404, 403]

    from testinfra.dash_requests import poll

    shown = poll(client).json["response"]["shown-version"]["data"]  # a real hand-out works
    assert chart_answer(client, shown).status_code == 200
    assert chart_answer(client, {**shown, "generation": first}).status_code == 403  # token bound to its generation


def test_local_history_cannot_be_escaped(tmp_path):
    from data_access import GenerationNotFound, LocalFileSource

    (tmp_path / "secret.data").write_text("TOPSECRET")
    (tmp_path / "data").mkdir()
    source = LocalFileSource(tmp_path / "data" / "data.csv")
    for generation in ("../../secret", "../secret", "1-2/../../secret", "abc"):
        with pytest.raises(GenerationNotFound):
            source.read(generation)


def test_big_bodies_are_refused_before_they_are_read(secured):
    """Anonymous requests keep the small body limit everywhere, checked from Content-Length."""
    app, _, _ = secured
    client = app.server.test_client()
    big = b"[" + b"1," * (1024 * 1024) + b"1]"  # 2 MiB of valid JSON
    for path in ("/_dash-update-component", "/login", "/", "/healthz"):
        response = client.post(path, data=big, content_type="application/json")
        assert response.status_code == 413, path
    small = client.post("/_dash-update-component", data=b"[1]", content_type="application/json")
    assert small.status_code == 400  # under the limit: read, and refused for what it is


def test_even_admins_cannot_send_big_callback_bodies(secured):
    """Files travel to storage (or to the chunk route), never inside callbacks: the small limit holds for all."""
    app, _, _ = secured
    client = app.server.test_client()
    assert _login(client).status_code == 302
    big = b'{"output": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    assert client.post("/_dash-update-component", data=big, content_type="application/json").status_code == 413
    assert client.post("/login", data=big, content_type="application/json").status_code == 413


def _admin_page_status(client: Any) -> int:
    return client.get("/admin").status_code


def _copy_cookie(source: Any, target: Any, name: str = "live_dashboard_session") -> None:
    target.set_cookie(name, source.get_cookie(name).value)


def test_a_copied_cookie_stops_working_after_sign_out(secured):
    app, first, bucket_state = secured
    alice, thief = app.server.test_client(), app.server.test_client()
    assert _login(alice).status_code == 302
    _copy_cookie(alice, thief)
    assert _admin_page_status(thief) == 200  # the copy works while the session lives

    assert alice.post("/logout").status_code == 302
    assert _admin_page_status(thief) == 302  # ... and not after sign-out, anywhere
    _assert_all_refused(thief, _forged_requests(thief, first, bucket_state()[0]), bucket_state)


def test_sessions_are_shared_by_workers_and_end_when_an_admin_is_removed(secured, gcs_settings, make_app):
    """Two apps on one CACHE_DIR stand for two gunicorn workers (SimpleCache: no shared cache)."""
    app, _, _ = secured
    worker_one = app.server.test_client()
    assert _login(worker_one).status_code == 302
    settings = app.server.config["DASHBOARD_SETTINGS"]
    worker_two = make_app(settings).server.test_client()
    _copy_cookie(worker_one, worker_two)
    assert _admin_page_status(worker_two) == 200
    worker_two.post("/logout")
    assert _admin_page_status(worker_one) == 302  # signed out on one worker: out on every worker

    assert _login(worker_one).status_code == 302
    without_alice = make_app(settings.with_overrides(admin_users=f"bob:{hash_password('another password')}"))
    restarted = without_alice.server.test_client()
    _copy_cookie(worker_one, restarted)
    assert _admin_page_status(restarted) == 302


def test_a_session_ends_after_its_lifetime_or_when_idle_however_it_is_used(secured):
    app, _, _ = secured
    policy = app.server.extensions["auth"].sessions
    start = time.time()
    now = [start]
    policy.clock = lambda: now[0]
    idle, lifetime = policy.idle_seconds, policy.lifetime_seconds

    busy = app.server.test_client()
    assert _login(busy).status_code == 302
    while now[0] + idle / 2 < start + lifetime:
        now[0] += idle / 2  # used regularly: never idle
        assert _admin_page_status(busy) == 200
    now[0] = start + lifetime + 1
    assert _admin_page_status(busy) == 302  # the absolute lifetime is not extended by use

    idler = app.server.test_client()
    assert _login(idler).status_code == 302
    now[0] += idle + 1
    assert _admin_page_status(idler) == 302


def test_production_cookie_uses_the_host_prefix(secured, make_app):
    app, _, _ = secured
    settings = app.server.config["DASHBOARD_SETTINGS"].with_overrides(app_env="production", secret_key=SECRET)
    cookie = _session_cookie(_login(make_app(settings).server.test_client()))
    assert cookie.startswith("__Host-live_dashboard_session=")
    assert "Secure" in cookie and "Path=/;" in cookie and "Domain" not in cookie


def test_login_is_limited_per_account_for_new_browsers_from_any_address_and_any_worker(secured, make_app):
    app, _, _ = secured
    settings = app.server.config["DASHBOARD_SETTINGS"].with_overrides(
        login_rate_limit="100 per minute", login_account_wide_rate_limit="3 per minute"
    )
    workers = [make_app(settings).server.test_client() for _ in range(2)]
    alices_browser = make_app(settings).server.test_client()
    form = {"username": "alice", "password": ADMIN_PASSWORD}
    assert alices_browser.post("/login", data=form, environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 302

    def attempt(worker: int, address: str, user: str = "alice", password: str = "wrong") -> int:
        form = {"username": user, "password": password}
        return workers[worker].post("/login", data=form, environ_base={"REMOTE_ADDR": address}).status_code

    assert [attempt(0, "10.0.0.1"), attempt(1, "10.0.0.2", user=" ALICE ")] == [401, 401]
    assert attempt(0, "10.0.0.3") == 429  # a third address, the other worker: the account's limit is reached
    assert attempt(1, "10.0.0.4", password=ADMIN_PASSWORD) == 429  # for browsers new to it
    assert attempt(1, "10.0.0.4", user="bob") == 401  # other accounts are not limited
    # The browser that signed in to alice before is not counted, from any address.
    assert alices_browser.post("/login", data=form, environ_base={"REMOTE_ADDR": "10.0.0.5"}).status_code == 302


def test_a_stranger_from_ten_addresses_cannot_stop_an_admin_signing_in_from_their_own(secured, make_app):
    app, _, _ = secured
    client = app.server.test_client()  # the shipped per-account limits
    for number in range(10):
        for name in ("alice", "ALICE", " alice", "alice "):
            form = {"username": name, "password": f"guess-{number}"}
            client.post("/login", data=form, environ_base={"REMOTE_ADDR": f"203.0.113.{number}"})

    fresh = app.server.test_client()  # alice, from her own address, in a browser with no history
    form = {"username": "alice", "password": ADMIN_PASSWORD}
    assert fresh.post("/login", data=form, environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code == 302


def test_one_address_gets_no_more_checks_on_an_account_than_its_limit_even_at_once(secured, make_app):
    _burst_gets_at_most_the_limit(secured, make_app, addresses=lambda number: "203.0.113.1")


def test_many_addresses_get_no_more_checks_on_an_account_than_its_limit_even_at_once(secured, make_app):
    _burst_gets_at_most_the_limit(secured, make_app, addresses=lambda number: f"203.0.113.{number}")


def _burst_gets_at_most_the_limit(secured, make_app, addresses) -> None:
    """40 wrong passwords sent at the same moment: each limit is counted before any password is checked."""
    app, _, _ = secured
    limit = 10
    settings = app.server.config["DASHBOARD_SETTINGS"].with_overrides(
        login_rate_limit="1000 per minute",
        login_account_rate_limit=f"{limit} per minute",
        login_account_wide_rate_limit=f"{limit} per minute",
        # A fast hash, so that checks are not what holds the burst back.
        admin_users=f"alice:{generate_password_hash(ADMIN_PASSWORD, 'pbkdf2:sha256:1000')}",
        login_concurrency=64,
    )
    server = make_app(settings).server
    start = threading.Barrier(40)
    statuses: list[int] = []

    def attempt(number: int) -> None:
        client = server.test_client()
        start.wait()
        form = {"username": "alice", "password": f"guess-{number}"}
        statuses.append(client.post("/login", data=form, environ_base={"REMOTE_ADDR": addresses(number)}).status_code)

    threads = [threading.Thread(target=attempt, args=(number,)) for number in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses.count(401) == limit  # checked (and wrong)
    assert statuses.count(429) == 40 - limit


def test_password_checks_are_bounded_per_process(secured):
    app, _, _ = secured
    checks = app.server.extensions["auth"].password_checks
    checks.wait_seconds = 0.01
    held = [checks.slot() for _ in range(app.server.config["DASHBOARD_SETTINGS"].login_concurrency)]
    for slot in held:
        slot.__enter__()
    try:
        busy = _login(app.server.test_client())
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "5"
    finally:
        for slot in held:
            slot.__exit__(None, None, None)
    assert _login(app.server.test_client()).status_code == 302
