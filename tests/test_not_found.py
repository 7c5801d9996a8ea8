"""Unknown paths answer HTTP 404 (Dash would answer 200 and draw the not-found page)."""

from __future__ import annotations

from settings import Settings


def test_unknown_paths_answer_404_and_pages_200(make_app, local_csv):
    app = make_app(Settings.from_env({}, app_env="development", data_source="local", local_data_path=local_csv))
    client = app.server.test_client()
    for path in ("/no-such-page", "/a/b/c", "/404", "/admin/x"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"<html" in response.data.lower()  # still the app, which draws "Page not found"
    for path in ("/", "/?x=1"):
        assert client.get(path).status_code == 200, path
    assert client.get("/admin").status_code in (200, 302)  # the admin page (or its sign-in redirect)
    assert client.get("/healthz").status_code == 200
    assert client.get("/assets/style.css").status_code == 200


def test_a_page_with_a_path_template_matches_its_paths_only(monkeypatch):
    import dash

    from routes import is_page_path

    page = {"module": "pages.dataset", "path_template": "/d/<name>", "relative_path": "/d/none"}
    monkeypatch.setitem(dash.page_registry, "pages.dataset", page)
    assert is_page_path("/d/sales") and is_page_path("/d/sales/")
    assert not is_page_path("/d/sales/extra") and not is_page_path("/d")
