"""Who may use an exposed dashboard: an identity provider through ``st.login``, or one shared password.

Both are configured in ``.streamlit/secrets.toml`` beside where the server starts (never in the
repository): an ``[auth]`` section (Streamlit's OpenID Connect settings) makes every visitor log in
with the provider; a top-level ``password = "..."`` asks for that password once per browser session,
compared in constant time. Without either, the dashboard is open, as on a laptop.
"""

from __future__ import annotations

import hmac
from typing import Any

import streamlit as st

__all__ = ["access_rule", "require_access"]

_GRANTED = "access_granted"


def _secrets() -> dict[str, Any]:
    try:
        return st.secrets.to_dict()
    except (FileNotFoundError, st.errors.StreamlitSecretNotFoundError):
        return {}


def access_rule() -> str | None:
    """``"login"`` (identity provider), ``"password"`` (shared secret) or ``None`` (open)."""
    secrets = _secrets()
    if secrets.get("auth"):
        return "login"
    if secrets.get("password"):
        return "password"
    return None


def require_access() -> None:
    """Stop the script until the visitor is let in by the configured rule; returns at once when open."""
    rule = access_rule()
    if rule == "login":
        if not st.user.get("is_logged_in", False):
            st.title("INN Lab")
            st.write("This dashboard is shared: log in to use it.")
            st.button("Log in", key="access_login", on_click=st.login, type="primary")
            st.stop()
        return
    if rule is None or st.session_state.get(_GRANTED):
        return
    gate = st.empty()
    with gate.container():
        st.title("INN Lab")
        with st.form("access_form"):
            typed = st.text_input("Password", type="password", key="access_password")
            entered = st.form_submit_button("Enter", type="primary")
    if entered:
        expected = str(_secrets()["password"]).encode()
        if hmac.compare_digest(typed.encode(), expected):
            st.session_state[_GRANTED] = True
            gate.empty()  # the page draws in this same run
            return
        st.error("Wrong password.", icon=":material/lock:")
    st.stop()
