"""Answer-set matrix files: named sets of answers that `gosvc smoke` and the tests render.

```yaml
sets:
  - name: defaults        # lowercase letters, digits and '-': used as a folder name
    answers: {}
  - name: module-v2
    answers:
      module_path: github.com/acme/inventory-service/v2
```
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gosvc.errors import InputError

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class AnswerSet:
    name: str
    answers: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """The answers as `key=value ...`, or `(defaults)`."""
        if not self.answers:
            return "(defaults)"
        return " ".join(f"{key}={_show(value)}" for key, value in self.answers.items())


def _show(value: Any) -> str:
    """A value as it would be typed after -d (true, not Python's True)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def load_matrix(path: Path) -> list[AnswerSet]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError(f"cannot read matrix file {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise InputError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("sets"), list):
        raise InputError(f"{path}: expected a mapping with a list under 'sets'")
    sets: list[AnswerSet] = []
    for index, entry in enumerate(document["sets"], start=1):
        where = f"{path}: set {index}"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise InputError(f"{where}: expected a mapping with a 'name'")
        name = entry["name"]
        if not _NAME.match(name):
            raise InputError(f"{where}: name {name!r} must be lowercase letters, digits and '-'")
        answers = entry.get("answers") or {}
        if not isinstance(answers, dict) or not all(isinstance(key, str) for key in answers):
            raise InputError(f"{where} ({name}): 'answers' must be a mapping of question: value")
        if any(existing.name == name for existing in sets):
            raise InputError(f"{where}: name {name!r} is used twice")
        sets.append(AnswerSet(name=name, answers=answers))
    if not sets:
        raise InputError(f"{path}: no answer sets under 'sets'")
    return sets


def select(sets: Sequence[AnswerSet], name_filter: str | None) -> list[AnswerSet]:
    """The sets whose name contains `name_filter` (all when it is None)."""
    if name_filter is None:
        return list(sets)
    chosen = [answer_set for answer_set in sets if name_filter in answer_set.name]
    if not chosen:
        names = ", ".join(answer_set.name for answer_set in sets)
        raise InputError(f"no answer set name contains {name_filter!r}; the sets are: {names}")
    return chosen
