"""The admin page in a real Chromium: sign in, upload, preview, publish, restore.

The app serves a real fake-gcs-server bucket. Files are chosen through the page's real
``<input type=file>``; the confirm dialog is the browser's own. A second, independent
Chromium watching the chart page shows that a publication reaches open dashboards
without a reload. Waits poll with deadlines; the one fixed-length window (a refused
upload must not reach the server) is checked throughout.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By

from app import create_app
from auth.passwords import hash_password
from data_access import make_storage_client
from data_access.publishing import Publication, Publisher
from data_access.staging import CHUNK_BYTES
from settings import Settings
from testinfra import SAMPLE_CSV, CuttingProxy, FakeGCS
from tests.browser.conftest import LiveServer
from tests.browser.test_live_chart import (
    BLOB,
    LATENCY_SLACK_SECONDS,
    freshness,
    open_chart,
    seconds_until_shown,
    wait_until,
    watch_for_y,
)

ADMIN = "alice"
PASSWORD = "a long enough admin password"
SAMPLE_Y = [[3, 7, 11], [2, 12, 30]]  # add_num, multiply_num of SAMPLE_CSV (derived by the app)
NEW_CSV = b"ID,first_num,second_num\n1,10,20\n2,30,40\n3,50,60\n4,70,80\n"
NEW_Y = [[30, 70, 110, 150], [200, 1200, 3000, 5600]]
TEXT_IN_NUMBER_CSV = b"ID,first_num,second_num\n1,2,3\n2,two,3\n"
MISSING_COLUMN_CSV = b"ID,first_num\n1,2\n"

# Records (in the admin page, every 10 ms) the first moment the publish result says "Published".
WATCH_FOR_PUBLISHED_JS = """
    window.__publishedAt = null;
    clearInterval(window.__publishedWatch);
    window.__publishedWatch = setInterval(function () {
        const result = document.getElementById('admin-publish-result');
        if (result && result.innerText.includes('Published v')) {
            window.__publishedAt = Date.now();
            clearInterval(window.__publishedWatch);
        }
    }, 10);
"""


@pytest.fixture(scope="module")
def admin_users() -> str:
    return f"{ADMIN}:{hash_password(PASSWORD)}"


@pytest.fixture()
def start_admin_app(
    bucket: Any, gcs_settings: Any, make_app: Callable, live_server: Callable, admin_users: str
) -> Callable[..., LiveServer]:
    """``start_admin_app(**overrides)``: the app with one admin, over a bucket holding SAMPLE_CSV.

    The returned server also records ``request_sizes``: (path, body bytes) of every request.
    """

    def start(**overrides: Any) -> LiveServer:
        bucket.blob(BLOB).upload_from_string(SAMPLE_CSV, content_type="text/csv")
        return serve_measured(make_app(gcs_settings.with_overrides(admin_users=admin_users, **overrides)), live_server)

    return start


def serve_measured(app: Any, live_server: Callable) -> LiveServer:
    """Serve ``app``; the server also records ``request_sizes``: (path, body bytes) of every request."""
    sizes: list[tuple[str, int]] = []
    inner = app.server.wsgi_app

    def measuring(environ: dict, start_response: Callable) -> Any:
        sizes.append((environ.get("PATH_INFO", ""), int(environ.get("CONTENT_LENGTH") or 0)))
        return inner(environ, start_response)

    app.server.wsgi_app = measuring
    server = live_server(app)
    server.request_sizes = sizes
    return server


def live_generation(bucket: Any) -> str:
    return str(bucket.get_blob(BLOB).generation)


def text_of(browser: Any, element_id: str) -> str:
    """The element's visible text, '' while it is not on the page."""
    return browser.execute_script(
        "const element = document.getElementById(arguments[0]); return element ? element.innerText.trim() : '';",
        element_id,
    )


def click(browser: Any, element: Any) -> None:
    """Scroll ``element`` to the middle at once, then click it.

    Bootstrap turns on smooth scrolling, so the scroll WebDriver does before a click is
    still animating when the click lands, which then hits whatever was there before.
    """
    browser.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", element)
    element.click()


def sign_in(browser: Any, server: LiveServer) -> None:
    """Open /admin as nobody, get sent to the login page, sign in, land back on /admin."""
    browser.get(server.url + "/admin")
    wait_until(lambda: browser.current_url == server.url + "/login?next=/admin", 10, "/admin did not ask to sign in")
    browser.find_element(By.ID, "username").send_keys(ADMIN)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    click(browser, browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]"))
    wait_until(lambda: browser.current_url == server.url + "/admin", 10, "signing in did not lead back to /admin")
    wait_until(lambda: f"Signed in as {ADMIN}" in browser.page_source, 15, "the admin page did not render")
    wait_until(lambda: text_of(browser, "admin-live") not in ("", "Loading…"), 10, "the live version never showed")


def choose_file(browser: Any, path: Path) -> None:
    """Pick ``path`` in the upload box, as the file chooser would."""
    browser.find_element(By.CSS_SELECTOR, "#admin-upload input[type=file]").send_keys(str(path))


def publish_button(browser: Any) -> Any:
    return browser.find_element(By.ID, "admin-publish")


def wait_for_preview_chart(browser: Any) -> None:
    """The preview's chart has drawn: the page below it (the Publish button) stops moving."""
    wait_until(
        lambda: browser.find_elements(By.CSS_SELECTOR, "#admin-preview .js-plotly-plot .main-svg"),
        10,
        "the preview chart never drew",
    )


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def accept_confirm_dialog(browser: Any, expected: str) -> None:
    def dialog() -> Any:
        try:
            return browser.switch_to.alert
        except NoAlertPresentException:
            return None

    alert = wait_until(dialog, 5, "no confirm dialog opened")
    assert alert.text == expected
    alert.accept()


def test_admin001_login_upload_preview_publish_updates_other_browser(
    browser, second_browser, start_admin_app, bucket, gcs_settings, tmp_path
):
    server = start_admin_app()
    base = live_generation(bucket)
    viewer, admin = second_browser, browser

    open_chart(viewer, server, SAMPLE_Y)
    viewer.execute_script("window.__noReload = 1;")

    sign_in(admin, server)
    assert publish_button(admin).get_attribute("disabled") is not None
    choose_file(admin, write(tmp_path, "march.csv", NEW_CSV))
    valid = wait_until(lambda: text_of(admin, "admin-valid"), 10, "no preview appeared")
    assert valid.startswith("march.csv: 4 rows × ") and valid.endswith("ready to publish.")
    assert re.fullmatch(
        r"Compared with the live version \(updated \d\d:\d\d · written outside the app\): "
        r"4 rows added; 3 removed; 0 unchanged\.",
        text_of(admin, "admin-diff"),
    ), text_of(admin, "admin-diff")
    assert base in admin.find_element(By.CSS_SELECTOR, "#admin-diff span[title]").get_attribute("title")
    wait_until(lambda: publish_button(admin).is_enabled(), 5, "Publish stayed disabled after a valid preview")
    wait_for_preview_chart(admin)
    assert text_of(admin, "admin-upload-error") == ""

    watch_for_y(viewer, NEW_Y)
    admin.execute_script(WATCH_FOR_PUBLISHED_JS)
    click(admin, publish_button(admin))
    result = wait_until(
        lambda: (lambda text: text if "Published v" in text else None)(text_of(admin, "admin-publish-result")),
        10,
        "publishing gave no success message",
    )
    assert re.match(rf"Published v1 · march\.csv · \d\d:\d\d · {ADMIN} \(4 rows\)\.", result), result
    generation = live_generation(bucket)
    tooltip = admin.find_element(By.CSS_SELECTOR, "#admin-publish-result span[title]").get_attribute("title")
    assert tooltip.endswith(f"generation {generation}") and generation not in result
    published_at_ms = wait_until(lambda: admin.execute_script("return window.__publishedAt;"), 2, "watcher missed it")

    latency = seconds_until_shown(viewer, published_at_ms / 1000)
    limit = gcs_settings.poll_interval_seconds + LATENCY_SLACK_SECONDS
    assert latency <= limit, f"the other browser showed the new data {latency:.2f} s after publishing (limit {limit})"
    assert viewer.execute_script("return window.__noReload;") == 1  # same page, no reload
    assert server.count("/") == 1
    wait_until(
        lambda: f"generation {generation}" in freshness(viewer) and f"· {ADMIN}" in freshness(viewer),
        2,
        "the status line lacks the publication",
    )

    live = bucket.get_blob(BLOB)
    assert str(live.generation) == generation
    assert live.download_as_bytes() == NEW_CSV
    assert live.metadata["uploaded_by"] == ADMIN
    assert live.metadata["original_filename"] == "march.csv"
    assert live.metadata["previous_generation"] == base
    assert publish_button(admin).get_attribute("disabled") is not None  # one publish per preview
    wait_until(lambda: text_of(admin, "admin-live").startswith("v1 · march.csv · "), 5, "live version not refreshed")
    assert server.server_errors() == []


def test_admin002_bad_file_is_explained_and_nothing_published(browser, start_admin_app, bucket, tmp_path):
    server = start_admin_app()
    before = live_generation(bucket)
    sign_in(browser, server)

    cases = [
        ("text.csv", TEXT_IN_NUMBER_CSV, "Line 3, column 'first_num' ('two')"),
        ("missing.csv", MISSING_COLUMN_CSV, "'second_num' missing"),
    ]
    for name, content, expected in cases:
        choose_file(browser, write(tmp_path, name, content))
        problems = wait_until(
            lambda expected=expected: (lambda text: text if expected in text else None)(
                text_of(browser, "admin-problems")
            ),
            10,
            f"{name}: no problem message containing {expected!r}",
        )
        assert problems.startswith("This file was not published:")
        assert browser.find_elements(By.ID, "admin-valid") == []  # no preview of a bad file
        assert publish_button(browser).get_attribute("disabled") is not None, f"{name}: Publish is enabled"
        assert text_of(browser, "admin-upload-error") == ""

    assert live_generation(bucket) == before
    assert bucket.get_blob(BLOB).download_as_bytes() == SAMPLE_CSV
    assert server.server_errors() == []


def test_admin003_too_large_file_gets_a_message_in_the_browser(browser, start_admin_app, bucket, tmp_path):
    server = start_admin_app(max_upload_mb=0.01)  # 10,000 bytes
    before = live_generation(bucket)
    sign_in(browser, server)

    rows = b"".join(b"%d,1,2\n" % number for number in range(6_000))
    big = write(tmp_path, "big.csv", b"ID,first_num,second_num\n" + rows)
    assert 45_000 < big.stat().st_size < 60_000
    choose_file(browser, big)
    message = wait_until(lambda: text_of(browser, "admin-upload-error"), 10, "no message about the file size")
    assert message == "big.csv is 0.06 MB; the limit is 0.01 MB. Nothing was uploaded.", message

    # Nothing may follow: no preview, no problems, and no request carrying the file.
    window_ends = time.monotonic() + 1.5
    while time.monotonic() < window_ends:
        assert browser.find_elements(By.ID, "admin-valid") == []
        assert browser.find_elements(By.ID, "admin-problems") == []
        time.sleep(0.1)
    largest = max(size for _path, size in server.request_sizes)
    assert largest < big.stat().st_size, f"a {largest}-byte request reached the server"
    assert publish_button(browser).get_attribute("disabled") is not None
    assert live_generation(bucket) == before
    assert server.server_errors() == []


def upload_controls_shown(browser: Any) -> list[str]:
    """Which of the progress bar and "Cancel upload" a person can see now."""
    return [
        element_id
        for element_id in ("admin-upload-progress", "admin-upload-cancel")
        if browser.find_element(By.ID, element_id).is_displayed()
    ]


def publish_numbered_versions(server: LiveServer, bucket: Any) -> list[str]:
    """v1 (march.csv) and v2 (april.csv, with a note) over the seed; their generations."""
    publisher = Publisher(server.app.server.extensions["live_data"])
    first = publisher.publish(Publication(NEW_CSV, 4, "march.csv"), ADMIN, live_generation(bucket)).generation
    second = publisher.publish(Publication(SAMPLE_CSV, 3, "april.csv"), ADMIN, first, "corrected totals").generation
    return [first, second]


def restore_button(browser: Any, generation: str) -> Any:
    restore_id = json.dumps({"generation": generation, "type": "admin-restore"}, separators=(",", ":"))
    return wait_until(
        lambda: next(iter(browser.find_elements(By.CSS_SELECTOR, f"#admin-history button[id='{restore_id}']")), None),
        10,
        f"the history has no Restore button for generation {generation}",
    )


def test_admin004_restore_from_history_in_version_labels(browser, start_admin_app, bucket):
    server = start_admin_app()
    v1, v2 = publish_numbered_versions(server, bucket)
    # A reader half an hour off the server's UTC: times must follow the reader's clock.
    browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Kolkata"})
    sign_in(browser, server)
    assert upload_controls_shown(browser) == []  # nothing is uploading: no empty bar, no Cancel
    label = r"v{} · {} · \d\d:\d\d · " + ADMIN
    live_line = text_of(browser, "admin-live")
    assert re.fullmatch(label.format(2, r"april\.csv") + f" · 3 rows · {len(SAMPLE_CSV)} bytes", live_line), live_line
    assert v2 in browser.find_element(By.ID, "admin-live-label").get_attribute("title")
    # The time as the chart page's status line says it: the browser's own clock (versionLabel).
    clock = browser.execute_script(
        "return new Date(arguments[0]).toLocaleTimeString([], {hour: '2-digit', minute: '2-digit', hourCycle: 'h23'});",
        bucket.get_blob(BLOB).updated.isoformat(),
    )
    assert live_line.startswith(f"v2 · april.csv · {clock} · "), (live_line, clock)
    history = browser.find_element(By.ID, "admin-history")
    assert v1 not in history.text and v2 not in history.text  # generations are tooltips only

    button = restore_button(browser, v1)
    rows = browser.find_elements(By.CSS_SELECTOR, "#admin-history tbody tr")
    cells = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")] for row in rows]
    assert re.fullmatch(label.format(2, r"april\.csv"), cells[0][0]) and cells[0][1:5] == [
        "published", "3", f"{len(SAMPLE_CSV)} bytes", "corrected totals",
    ]  # fmt: skip
    assert "live" in rows[0].text and "Restore" not in rows[0].text
    v1_label = cells[1][0]
    assert re.fullmatch(label.format(1, r"march\.csv"), v1_label), v1_label
    assert cells[2][0].startswith("updated ") and cells[2][0].endswith("written outside the app")
    click(browser, button)
    accept_confirm_dialog(browser, f"Restore {v1_label} as the new live version?")

    result = wait_until(lambda: text_of(browser, "admin-restore-result"), 10, "restoring gave no message")
    v3_label = label.format(3, r"march\.csv")
    assert re.fullmatch(rf"Restored {re.escape(v1_label)} as {v3_label}\.", result), result
    live = bucket.get_blob(BLOB)
    assert live.download_as_bytes() == NEW_CSV
    assert live.metadata["restored_from"] == v1 and live.metadata["restored_version"] == "1"
    wait_until(lambda: text_of(browser, "admin-live").startswith("v3 · march.csv · "), 5, "live version not refreshed")
    restored_row = browser.find_elements(By.CSS_SELECTOR, "#admin-history tbody tr")[0]
    assert "restored v1" in restored_row.text and "live" in restored_row.text
    assert upload_controls_shown(browser) == []
    assert server.server_errors() == []


# -- large files: straight to storage in chunks, resumed after a cut line, cancelled --------

BIG_HEADER = b"ID,first_num,second_num,label\n"
PADDING = b"x" * 400  # long rows: a big file without many rows to check and draw (the machine is shared)


def big_csv(path: Path, size: int) -> Path:
    """A valid CSV of about ``size`` bytes, written quickly."""
    row_count = size // (len(PADDING) + 12) + 1
    rows = b"".join(b"%d,%d,%d,%s\n" % (n, n % 97, n % 89, PADDING) for n in range(row_count))
    path.write_bytes(BIG_HEADER + rows)
    return path


@pytest.fixture(scope="module")
def cuttable_storage(fake_gcs: FakeGCS) -> Any:
    """A CuttingProxy in front of fake-gcs-server, and a storage client that goes through it.

    The emulator names upload sessions after the address it was asked on, so the browser's
    chunks take the same line as the app's calls: cutting it is a network outage for both.
    """
    proxy = CuttingProxy(target_port=fake_gcs.port).start()
    yield proxy, make_storage_client("test-project", proxy.url)
    proxy.stop()


@pytest.fixture()
def cuttable_app(cuttable_storage: Any, live_server: Callable, admin_users: str) -> Any:
    """The admin app over a fresh bucket of ``cuttable_storage`` holding SAMPLE_CSV."""
    proxy, client = cuttable_storage
    bucket = client.bucket(f"cuttable-{time.monotonic_ns()}")
    bucket.versioning_enabled = True
    bucket = client.create_bucket(bucket)
    bucket.blob(BLOB).upload_from_string(SAMPLE_CSV, content_type="text/csv")
    settings = Settings.from_env(
        {},
        app_env="development",
        gcs_bucket=bucket.name,
        storage_emulator_host=proxy.url,
        poll_interval_seconds=1.0,
        version_cache_seconds=0.2,
        max_chart_points=2_000,  # light pages: the test is about the upload, not about drawing
        admin_users=admin_users,
        upload_chunk_mb=8,  # a 32 MB file in several chunks, so a cut one resumes after a confirmed one
    )
    return serve_measured(create_app(settings, storage_client=client), live_server), bucket, proxy


def upload_status(browser: Any) -> str:
    return text_of(browser, "admin-upload-status")


def progress_value(browser: Any) -> int:
    value = browser.execute_script(
        "const bar = document.querySelector('#admin-upload-progress .progress-bar');"
        "return bar ? bar.getAttribute('aria-valuenow') : null;"
    )
    return int(float(value)) if value is not None else -1


def staged_names(bucket: Any) -> list[str]:
    return [blob.name for blob in bucket.list_blobs(prefix=f"{BLOB}.staging/")]


def test_admin005_big_file_goes_to_storage_in_chunks_resumes_after_a_cut_line_and_reaches_other_browsers(
    browser, second_browser, cuttable_app, tmp_path
):
    server, bucket, proxy = cuttable_app
    big = big_csv(tmp_path / "big.csv", 32 * 2**20)
    assert big.stat().st_size > 32 * 2**20
    viewer, admin = second_browser, browser
    open_chart(viewer, server, SAMPLE_Y)
    sign_in(admin, server)
    sent_before = proxy.bytes_up

    proxy.cut_after(13 * 2**20)  # in the middle of the second 8 MiB chunk
    choose_file(admin, big)
    assert proxy.cut.wait(60), "the upload never reached storage"
    lost = wait_until(
        lambda: re.search(r"Connection lost at (\d+)%", upload_status(admin)), 20, "no message about the lost line"
    )
    assert 0 < int(lost.group(1)) < 100 and 0 < progress_value(admin) < 100
    proxy.start()  # the line is back: the page resumes by itself

    valid = wait_until(lambda: text_of(admin, "admin-valid"), 90, "no preview after the upload resumed")
    assert valid.startswith("big.csv: ") and valid.endswith("ready to publish.")
    click(admin, publish_button(admin))
    wait_until(
        lambda: text_of(admin, "admin-publish-result").startswith("Published v1 · big.csv · "),
        30,
        "publishing gave no success message",
    )
    generation = live_generation(bucket)
    wait_until(lambda: f"generation {generation} " in freshness(viewer), 15, "the other browser did not follow")

    live = bucket.get_blob(BLOB)
    assert str(live.generation) == generation
    assert live.metadata["sha256"] == hashlib.sha256(big.read_bytes()).hexdigest()
    assert live.download_as_bytes() == big.read_bytes()
    assert staged_names(bucket) == []
    assert proxy.bytes_up - sent_before > big.stat().st_size  # the bytes went to storage (one chunk twice)...
    largest_path, largest = max(server.request_sizes, key=lambda entry: entry[1])
    assert largest < 2**20, f"a {largest}-byte request reached the app ({largest_path})"  # ...not to the app
    assert server.server_errors() == []


def assert_fits_a_390_px_phone(browser: Any) -> None:
    """Nothing on the page scrolls sideways on a 390 px wide screen (issue 6 item 10)."""
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": False}
    )
    wait_until(lambda: browser.execute_script("return window.innerWidth === 390;"), 5, "the phone size did not apply")
    widths: list[int] = []

    def fits() -> bool:
        widths.append(browser.execute_script("return document.documentElement.scrollWidth;"))
        return widths[-1] <= 390

    try:
        # The preview chart redraws at the new width on its own schedule: wait for the page to settle.
        wait_until(fits, 15, "the admin page stays wider than a 390 px screen")
    except BaseException:
        pytest.fail(f"the admin page stays {widths[-1]} px wide on a 390 px screen")


def test_admin006_cancel_mid_upload_and_after_the_preview_leaves_no_staged_object_and_fits_a_phone(
    browser, cuttable_app, tmp_path
):
    server, bucket, proxy = cuttable_app
    sign_in(browser, server)
    proxy.cut_after(3 * 2**20)
    choose_file(browser, big_csv(tmp_path / "big.csv", 20 * 2**20))
    assert proxy.cut.wait(60), "the upload never reached storage"
    wait_until(lambda: "Connection lost" in upload_status(browser), 20, "no message about the lost line")
    assert upload_controls_shown(browser) == ["admin-upload-progress", "admin-upload-cancel"]  # while sending
    click(browser, browser.find_element(By.ID, "admin-upload-cancel"))
    wait_until(lambda: upload_status(browser) == "Upload cancelled. Nothing was published.", 5, "no cancel message")
    assert upload_controls_shown(browser) == []
    proxy.start()

    choose_file(browser, write(tmp_path, "small.csv", NEW_CSV))
    wait_until(lambda: text_of(browser, "admin-valid"), 20, "no preview of the small file")
    assert len(staged_names(bucket)) == 1  # the small file only: the cancelled upload never resumed
    assert upload_controls_shown(browser) == []  # the upload is done: the bar and Cancel are gone
    wait_for_preview_chart(browser)
    assert_fits_a_390_px_phone(browser)  # with the preview, its tables and the history on screen
    discard = browser.find_element(By.ID, "admin-discard")
    assert discard.is_displayed()  # offered while there is something to publish
    click(browser, discard)
    wait_until(lambda: not browser.find_elements(By.ID, "admin-valid"), 10, "the preview stayed after discarding")
    assert upload_status(browser) == "Upload discarded. Nothing was published."
    assert not discard.is_displayed()
    wait_until(lambda: staged_names(bucket) == [], 10, "the staged object was not deleted")
    assert publish_button(browser).get_attribute("disabled") is not None
    assert bucket.get_blob(BLOB).download_as_bytes() == SAMPLE_CSV
    assert server.server_errors() == []


def test_admin007_local_mode_same_flow_in_chunks_to_the_app_resuming_at_the_reported_offset(
    browser, make_app, live_server, admin_users, tmp_path
):
    data = tmp_path / "data.csv"
    data.write_bytes(SAMPLE_CSV)
    settings = Settings.from_env(
        {}, app_env="development", data_source="local", local_data_path=data, max_chart_points=2_000
    )
    server = serve_measured(make_app(settings.with_overrides(admin_users=admin_users)), live_server)
    line = CuttingProxy(target_port=int(server.url.rsplit(":", 1)[1])).start()  # the browser reaches the app through it
    try:
        server.url = line.url
        big = big_csv(tmp_path / "upload.csv", 17 * 2**20)  # three chunks
        sign_in(browser, server)
        line.cut_after(10 * 2**20)  # in the middle of the second chunk
        choose_file(browser, big)
        assert line.cut.wait(60), "the upload never reached the app"
        wait_until(lambda: "Connection lost" in upload_status(browser), 20, "no message about the lost line")
        line.start()
        wait_until(lambda: text_of(browser, "admin-valid"), 60, "no preview after the upload resumed")
        click(browser, publish_button(browser))
        wait_until(lambda: "Published v1 · " in text_of(browser, "admin-publish-result"), 30, "no success message")
    finally:
        line.stop()

    assert data.read_bytes() == big.read_bytes()
    chunks = [size for path, size in server.request_sizes if path.startswith("/admin/upload/chunk/")]
    assert len(chunks) >= 4 and max(chunks) <= CHUNK_BYTES  # three chunks, one of them cut and sent again
    assert 0 in chunks  # after the cut, the page asked where the upload stood (an empty PUT)
    assert list((tmp_path / "data.csv.staging").iterdir()) == []
    assert server.server_errors() == []


def test_admin008_console_has_no_warning_and_the_favicon_is_served(browser, start_admin_app):
    server = start_admin_app()
    browser.get_log("browser")  # start from an empty console
    browser.get(server.url + "/login")
    wait_until(lambda: browser.find_elements(By.ID, "username"), 10, "the login page did not load")
    sign_in(browser, server)
    browser.get(server.url + "/")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg"), 15, "no chart drew")
    favicon_status = browser.execute_script(
        "return fetch('/favicon.ico').then(function (response) { return response.status; });"
    )
    console = [entry for entry in browser.get_log("browser") if entry["level"] in ("WARNING", "SEVERE")]
    assert [entry["message"] for entry in console if "Permissions-Policy" in entry["message"]] == []
    assert [entry["message"] for entry in console if "favicon" in entry["message"]] == []
    assert console == [], console
    assert favicon_status == 200
    assert not [response for response in server.responses if "favicon" in response[1] and response[2] != 200]
    assert server.server_errors() == []


def test_admin009_history_on_a_390_px_phone_reaches_restore_without_scrolling_sideways(
    browser, start_admin_app, bucket, tmp_path
):
    server = start_admin_app()
    publisher = Publisher(server.app.server.extensions["live_data"])
    generation = live_generation(bucket)
    for number in range(4):  # long names and notes: the widest a history row gets
        name = f"quarterly-sensor-readings-{number}-with-a-rather-long-file-name.csv"
        note = "corrected totals after the audit of the northern region's meters " * 2
        generation = publisher.publish(Publication(NEW_CSV, 3_000_000, name), ADMIN, generation, note).generation
    sign_in(browser, server)
    rows = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#admin-history tbody tr"), 10, "no history")
    assert "3,000,000" in rows[0].text  # thousands separators
    restored_label = rows[1].find_element(By.TAG_NAME, "td").text
    assert re.fullmatch(
        rf"v3 · quarterly-sensor-readings-2-with-a-rather-long-file-name\.csv · \d\d:\d\d · {ADMIN}", restored_label
    )
    browser.save_screenshot(str(tmp_path / "admin-desktop.png"))
    assert_fits_a_390_px_phone(browser)
    buttons = browser.find_elements(By.CSS_SELECTOR, "#admin-history button")
    assert len(buttons) == 4  # every version but the live one
    for button in buttons:
        browser.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", button)
        box = browser.execute_script(
            "const box = arguments[0].getBoundingClientRect();"
            "return {left: box.left, right: box.right, scroll: window.scrollX, width: window.innerWidth};",
            button,
        )
        assert box["scroll"] == 0 and box["left"] >= 0 and box["right"] <= box["width"], box
    history = browser.find_element(By.ID, "admin-history")
    overflow = browser.execute_script(
        "return [...arguments[0].querySelectorAll('*')].filter(e => e.scrollWidth > e.clientWidth + 1 && "
        "getComputedStyle(e).overflowX !== 'visible').map(e => e.tagName + '.' + e.className);",
        history,
    )
    assert overflow == [], f"parts of the history scroll sideways on a phone: {overflow}"
    browser.execute_script("window.scrollTo(0, document.getElementById('admin-history').offsetTop - 40);")
    browser.save_screenshot(str(tmp_path / "admin-phone.png"))
    click(browser, buttons[0])
    accept_confirm_dialog(browser, f"Restore {restored_label} as the new live version?")
    wait_until(lambda: text_of(browser, "admin-restore-result").startswith("Restored v3 · "), 10, "no restore")
    assert server.server_errors() == []
