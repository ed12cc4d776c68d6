"""Errors that describe bad user input.

Every check on user-supplied data, configuration or files raises
:class:`InputError` with one sentence saying what is wrong and what would be
right; the CLI turns it into exit status 2 and the dashboard into ``st.error``.
"""

from __future__ import annotations

__all__ = ["InputError"]


class InputError(ValueError):
    """Bad user input: the message names the problem and the fix."""
