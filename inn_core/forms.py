"""Form parsers shared by the CLI and the dashboard: text a person typed -> the values the engine takes.

Each raises :class:`~inn_core.errors.InputError` with one line saying what could not be read and
what would be right.
"""

from __future__ import annotations

import json
import re
from typing import Any

from inn_core.data.noise import NAMED_MAPPINGS
from inn_core.errors import InputError

__all__ = ["parse_mapping", "parse_epochs", "parse_ints", "parse_option"]

_PAIR = re.compile(r"^\s*(\d+)\s*(?:->|:|>)\s*(\d+)\s*$")


def parse_mapping(text: str) -> str | tuple[tuple[int, int], ...]:
    """Read an asymmetric-noise mapping: a name of :data:`~inn_core.data.noise.NAMED_MAPPINGS` or pairs.

    Pairs are ``source->target`` (or ``source:target``) separated by commas, e.g. ``"3->5, 5->3"``.
    The result is what :class:`~inn_core.data.noise.NoiseSpec` takes as ``mapping`` (it validates further).
    """
    text = text.strip()
    if not text:
        raise InputError(f"give a mapping: one of {', '.join(sorted(NAMED_MAPPINGS))}, or pairs like 3->5, 5->3")
    if text in NAMED_MAPPINGS:
        return text
    pairs = []
    for item in text.split(","):
        match = _PAIR.match(item)
        if match is None:
            raise InputError(
                f"cannot read {item.strip()!r} as a mapping pair; write pairs like 3->5, 5->3 "
                f"or a name ({', '.join(sorted(NAMED_MAPPINGS))})"
            )
        pairs.append((int(match.group(1)), int(match.group(2))))
    return tuple(pairs)


def parse_epochs(text: str) -> tuple[int, ...] | None:
    """Read evaluation epochs such as ``"5, 10, 20"``; an empty text means the default (None)."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        return None
    try:
        return tuple(int(item) for item in items)
    except ValueError:
        raise InputError(
            f"evaluation epochs must be whole numbers separated by commas, like 5, 10, 20; got {text!r}"
        ) from None


def parse_option(text: str) -> tuple[str, Any]:
    """Read a ``KEY=VALUE`` dataset option; the value as JSON where it parses (``true``, ``500``), else text."""
    if "=" not in text:
        raise InputError(f"--data-option takes KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def parse_ints(text: str, what: str) -> tuple[int, ...]:
    """Read comma-separated integers such as ``"3, 8"``; ``what`` names the field in the message."""
    try:
        return tuple(int(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise InputError(f"{what} takes comma-separated integers, got {text!r}") from None
