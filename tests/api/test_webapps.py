"""The web apps' files are served by the API itself, with a page policy; the API's data is not."""

from api.guard import PAGE_CSP, SECURITY_HEADERS


def test_vendored_packages_are_served_with_the_page_policy(client):
    r = client.get("/vendor/leaflet/leaflet.js")
    assert r.status_code == 200
    assert "L.version" in r.text or "Leaflet" in r.text
    assert r.headers["content-security-policy"] == PAGE_CSP
    assert "'unsafe-inline'" not in r.headers["content-security-policy"]
    # revalidated, not never stored: the service worker may keep it for offline use
    assert r.headers["cache-control"] == "no-cache"
    assert r.headers["etag"]


def test_app_paths_redirect_to_their_directory(client):
    for name in ("field", "report"):
        r = client.get(f"/{name}", follow_redirects=False)
        assert r.status_code == 308
        assert r.headers["location"] == f"/{name}/"


def test_api_data_keeps_the_strict_policy(client):
    r = client.get("/open311/v2/services.json")
    assert r.status_code == 200
    assert r.headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]
    assert r.headers["cache-control"] == "no-store"
    # an app's JSON under its own path is data too, never a page
    r = client.get("/field/api/nothing-here")
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]
