"""What every database backend can store, checked once for untrusted data (SPEC §9).

PostgreSQL refuses text with a NUL character (SQLite keeps it), and both refuse integers outside
64 bits as parameters; ``Infinity``/``NaN`` (which Python's JSON parser accepts) are not JSON at all
for PostgreSQL's JSON columns. Checking the data where it enters (every JSON request body, query
and path at the HTTP edge; graph files and packages where they are read) makes maghub refuse such
input with a message naming the field, on every backend alike, instead of a 500 on one of them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from maghub.errors import InvalidInputError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

NUL_MESSAGE = "contains a NUL character (\\u0000), which cannot be stored; remove it"
INTEGER_MESSAGE = f"is outside the integers that can be stored ({INT64_MIN} to {INT64_MAX})"
FLOAT_MESSAGE = "is not a finite number (Infinity and NaN cannot be stored)"


@dataclass(frozen=True)
class Unstorable:
    """Where in the data the first value no backend can store is, and what is wrong with it."""

    location: tuple[str | int, ...]
    message: str
    kind: str  # "string_nul", "int_range" or "float_finite"

    @property
    def field(self) -> str:
        return ".".join(str(part) for part in self.location) or "value"


def find_unstorable(value: object, location: tuple[str | int, ...] = ()) -> Unstorable | None:
    """The first string with a NUL, integer beyond 64 bits or non-finite float in JSON-like ``value``
    (keys included), else None."""
    if isinstance(value, str):
        return Unstorable(location, NUL_MESSAGE, "string_nul") if "\x00" in value else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if INT64_MIN <= value <= INT64_MAX else Unstorable(location, INTEGER_MESSAGE, "int_range")
    if isinstance(value, float):
        return None if math.isfinite(value) else Unstorable(location, FLOAT_MESSAGE, "float_finite")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and "\x00" in key:
                # Named by the object that holds it: the key itself is not fit to show.
                return Unstorable(location, f"has a key that {NUL_MESSAGE}", "string_nul")
            found = find_unstorable(item, (*location, key))
            if found:
                return found
        return None
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        for index, item in enumerate(value):
            found = find_unstorable(item, (*location, index))
            if found:
                return found
    return None


def check_storable(value: object, source: str) -> None:
    """Raise :class:`InvalidInputError` naming the field when ``value`` holds something no backend can
    store; ``source`` says where the data came from (a file name, "the package's graph.json")."""
    found = find_unstorable(value)
    if found:
        where = f"{source}: " if source else ""
        raise InvalidInputError(f"{where}{found.field} {found.message}")


# A JSON "\u0000" escape (after an even number of backslashes, so not the text "\\u0000").
_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")
REPLACEMENT = "\ufffd"


def json_for_storage(value: object) -> str:
    """``value`` as JSON for a column, NUL characters replaced by U+FFFD.

    The database's JSON serializer: a last line for text that did not come from a request (a model's
    answer, a tool's result), which is stored the same way on every backend instead of failing on
    PostgreSQL. Requests never get here with a NUL: they are refused at the edge."""
    text = json.dumps(value)
    return _NUL_ESCAPE.sub(r"\1\\ufffd", text) if "\\u0000" in text else text


def parameters_for_storage(parameters: Any) -> Any:
    """Statement parameters with NUL characters in text replaced by U+FFFD (see :func:`json_for_storage`);
    the same object when there is none, which is nearly always."""
    return _replace_nul(parameters) if _has_nul(parameters) else parameters


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_has_nul(item) for item in value)
    return False


def _replace_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", REPLACEMENT)
    if isinstance(value, dict):
        return {key: _replace_nul(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_replace_nul(item) for item in value)
    return value
