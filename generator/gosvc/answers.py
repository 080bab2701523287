"""Answers given on the command line or in a matrix file, typed by the template's questions.

Only the *types* are checked here (is "abc" a port number?), with messages naming the
question; every rule about values lives in copier.yml's validators and is applied by Copier.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gosvc.errors import InputError

_TRUE = frozenset({"y", "yes", "t", "true", "on", "1"})
_FALSE = frozenset({"n", "no", "f", "false", "off", "0"})


def parse_data_items(items: Iterable[str]) -> dict[str, str]:
    """`-d key=value` items as a dict; a later item overrides an earlier one."""
    data: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"-d {item!r}: expected key=value, e.g. -d service_name=orders")
        data[key] = value
    return data


def typed_answers(
    data: Mapping[str, Any], questions: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """`data` with each value converted to its question's declared type.

    Values that are already typed (from a YAML matrix file) are kept as they are.
    """
    asked = [name for name, details in questions.items() if not is_computed(details)]
    unknown = sorted(set(data) - set(questions))
    if unknown:
        raise InputError(
            f"unknown question {', '.join(unknown)}; the questions are: {', '.join(asked)}"
        )
    # Copier would take them for this render only, without recording them, so the next
    # update would quietly derive them again: refuse them instead.
    computed = sorted(key for key in data if is_computed(questions[key]))
    if computed:
        raise InputError(
            f"{', '.join(computed)} cannot be set: derived from the other answers on every "
            f"render; the questions are: {', '.join(asked)}"
        )
    return {key: _cast(key, value, questions[key].get("type", "")) for key, value in data.items()}


def is_computed(details: Mapping[str, Any]) -> bool:
    """True for a value the template derives and never asks (`when: false`)."""
    return details.get("when") is False


def _cast(key: str, value: Any, type_name: str) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    if type_name == "int":
        try:
            return int(text)
        except ValueError:
            raise InputError(f"{key} must be a whole number, got {value!r}") from None
    if type_name == "float":
        try:
            return float(text)
        except ValueError:
            raise InputError(f"{key} must be a number, got {value!r}") from None
    if type_name == "bool":
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise InputError(f"{key} must be true or false (yes/no, on/off, 1/0), got {value!r}")
    return value
