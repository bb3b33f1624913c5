"""Check each field an imported export supplies before it reaches the database.

An export can come from anywhere, and the database outlives the import: a
value the app itself never writes (a time in the year 10^292, a count past
2^63, stats that are a string) would be stored without complaint and break
the window at every later start.  So every field is held to the type and
range the app writes, and anything else is refused with a message that names
the field, its value and the fix, before the import transaction commits.
"""

from __future__ import annotations

import json
import math
from dataclasses import fields
from typing import Any

from app.store.errors import ImportFormatError
from engine.events import Stats

# 0 (1970) .. the year 3000: every time the app writes, with room for clocks set wrong.
MAX_TIME = 32_503_680_000.0
# Ids, sizes and counts: far above any real value, far below SQLite's 2^63 limit.
MAX_COUNT = 2**53
MAX_TOKEN_ID = 2**31 - 1
FIX = "Export the chat again from the app, or correct that field in the file"


def refuse(field: str, value: Any, expected: str) -> ImportFormatError:
    """The error for ``field`` holding ``value`` instead of ``expected`` (value shortened for display)."""
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return ImportFormatError(f"The file's {field} is malformed ({shown}; expected {expected})", fix=FIX)


def timestamp(value: Any, field: str) -> float:
    """Unix seconds between 1970 and the year 3000."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise refuse(field, value, "a time in seconds since 1970")
    if not (math.isfinite(value) and 0 <= value <= MAX_TIME):
        raise refuse(field, value, f"a time in seconds since 1970, from 0 to {MAX_TIME:.0f}")
    return float(value)


def count(value: Any, field: str, high: int = MAX_COUNT) -> int:
    """A whole number from 0 to ``high`` (ids, sizes, sequence numbers, token ids)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise refuse(field, value, "a whole number")
    if not 0 <= value <= high:
        raise refuse(field, value, f"a whole number from 0 to {high}")
    return value


def text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise refuse(field, value, "text")
    return value


def flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise refuse(field, value, "true or false")
    return value


def items(value: Any, field: str) -> list:
    if not isinstance(value, list):
        raise refuse(field, value, "a list")
    return value


def record(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise refuse(field, value, "an object")
    return value


def stats_json(value: Any, field: str) -> str | None:
    """A reply's stats as the JSON the store keeps: known numeric keys only (unknown keys are dropped)."""
    if value is None:
        return None
    data = record(value, field)
    kept: dict[str, Any] = {}
    for spec in fields(Stats):
        if spec.name not in data:
            continue
        item = data[spec.name]
        name = f"{field}.{spec.name}"
        if spec.name == "steps_per_canvas":
            kept[spec.name] = [count(step, name) for step in items(item, name)]
        elif item is None and spec.name == "peak_vram_bytes":
            kept[spec.name] = None
        elif isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
            raise refuse(name, item, "a number")
        elif not 0 <= item <= MAX_COUNT:
            raise refuse(name, item, f"a number from 0 to {MAX_COUNT}")
        else:
            kept[spec.name] = item
    return json.dumps(kept)
