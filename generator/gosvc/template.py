"""Where the template is: by default the checkout this package was installed from."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from gosvc.errors import InputError

# generator/gosvc/template.py -> the repository root, in an editable install.
_CHECKOUT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class TemplateSource:
    """A template to render and the git ref to render it at (None: Copier's choice)."""

    src: str
    vcs_ref: str | None


def bundled_template_root() -> Path:
    """The template checkout next to this package, or a clear error."""
    if (_CHECKOUT / "copier.yml").is_file() and (_CHECKOUT / "template").is_dir():
        return _CHECKOUT
    raise InputError(
        f"no template found next to the gosvc package (looked in {_CHECKOUT}); "
        "install gosvc editable from a template checkout (pip install -e .) or pass "
        "--template SRC"
    )


def resolve(template: str | None, vcs_ref: str | None) -> TemplateSource:
    """The template to use for --template/--vcs-ref as given on the command line.

    The bundled template renders at HEAD including uncommitted changes, so the package
    and the template it generates come from the same checkout. Another template without
    --vcs-ref gets Copier's default: its latest release tag.
    """
    if template is None:
        return TemplateSource(str(bundled_template_root()), vcs_ref or "HEAD")
    looks_remote = re.match(r"^[A-Za-z][\w+.-]*:", template) or "@" in template
    if not looks_remote and not Path(template).exists():
        raise InputError(f"--template {template}: no such folder")
    return TemplateSource(template, vcs_ref)


def default_matrix_file() -> Path:
    """The answer-set matrix the template's own tests use."""
    return bundled_template_root() / "tests" / "matrix.yml"
