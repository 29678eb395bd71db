"""Issue 13 (low): the dashboard answers with security headers, and Streamlit's
metrics endpoint is not open to anyone who can reach the port."""

import urllib.error
import urllib.request

import pytest

from dashboard.http_guard import content_security_policy


def _get(url: str):  # type: ignore[no-untyped-def]
    return urllib.request.urlopen(url, timeout=10)


@pytest.mark.parametrize("path", ["/", "/_stcore/health", "/app/static/vendor/leaflet/leaflet.js"])
def test_every_answer_has_the_security_headers(dashboard, path):
    with _get(dashboard + path) as r:
        assert r.status == 200
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["X-Frame-Options"] == "SAMEORIGIN"
        assert r.headers["Referrer-Policy"] == "no-referrer"
        csp = r.headers["Content-Security-Policy"]
        assert "frame-ancestors 'self'" in csp and "img-src 'self'" in csp


def test_the_metrics_endpoint_is_closed(dashboard):
    with pytest.raises(urllib.error.HTTPError) as closed:
        _get(dashboard + "/_stcore/metrics")
    with closed.value as answer:
        assert answer.code == 404
        assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_the_intranet_tile_server_is_allowed_images(monkeypatch):
    monkeypatch.setenv("GRIDGOV_TILE_URL", "http://tiles.city.lan:8080/{z}/{x}/{y}.png")
    assert "http://tiles.city.lan:8080" in content_security_policy()
