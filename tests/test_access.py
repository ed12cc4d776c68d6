"""An exposed dashboard: the shared password or the identity-provider login in front of every page."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")


def _app(tmp_path, monkeypatch, secrets: dict) -> AppTest:
    monkeypatch.setenv("INN_LAB_HOME", str(tmp_path / "runs"))
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in secrets.items():
        at.secrets[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def test_open_without_secrets(tmp_path, monkeypatch):
    at = _app(tmp_path, monkeypatch, {})
    assert "The consistency effect" in _titles(at)


def test_shared_password_gates_every_page(tmp_path, monkeypatch):
    at = _app(tmp_path, monkeypatch, {"password": "s3cret"})
    assert "The consistency effect" not in _titles(at)
    at.text_input(key="access_password").input("wrong")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["Wrong password."]
    assert "The consistency effect" not in _titles(at)
    at.text_input(key="access_password").input("s3cret")
    at.button[0].click().run()
    assert not at.exception
    assert "The consistency effect" in _titles(at)


def test_identity_provider_asks_to_log_in(tmp_path, monkeypatch):
    auth = {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "x" * 32,
        "client_id": "lab",
        "client_secret": "y",
        "server_metadata_url": "https://idp.example/.well-known/openid-configuration",
    }
    at = _app(tmp_path, monkeypatch, {"auth": auth})
    assert "The consistency effect" not in _titles(at)
    assert [b.label for b in at.button] == ["Log in"]


def test_xsrf_protection_is_not_turned_off():
    config = ROOT / ".streamlit" / "config.toml"
    text = (config.read_text() if config.exists() else "") + (ROOT / "Makefile").read_text()
    assert "enableXsrfProtection" not in text.replace(" ", "") or "enableXsrfProtection=true" in text.replace(" ", "")
