"""Where the template is: the checkout gosvc is installed from, or the copy in its wheel."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from gosvc.errors import InputError

_PACKAGE = Path(__file__).resolve().parent
# generator/gosvc/template.py -> the repository root, in an editable install.
_CHECKOUT = _PACKAGE.parents[1]
# A built wheel carries the template here (pyproject.toml's force-include).
_IN_WHEEL = _PACKAGE / "_template"

# A URL or scp-like git address (gh:owner/repo, https://..., git@host:path), not a
# Windows path such as C:\templates\svc or C:/templates/svc.
_REMOTE = re.compile(r"^(?![A-Za-z]:[\\/])([A-Za-z][\w+.-]*:|[\w.-]+@[\w.-]+:)")


@dataclass(frozen=True)
class TemplateSource:
    """A template to render and the git ref to render it at (None: Copier's choice)."""

    src: str
    vcs_ref: str | None


def _is_template(root: Path) -> bool:
    return (root / "copier.yml").is_file() and (root / "template").is_dir()


def bundled_template_root() -> Path:
    """The template checkout next to this package, else the copy in the wheel."""
    for root in (_CHECKOUT, _IN_WHEEL):
        if _is_template(root):
            return root
    raise InputError(
        f"no template found next to the gosvc package (looked in {_CHECKOUT} and "
        f"{_IN_WHEEL}); pass --template SRC"
    )


def is_git_checkout(root: Path) -> bool:
    """True when the template folder is a git checkout, so Copier can record its version."""
    return (root / ".git").exists()


def looks_remote(template: str) -> bool:
    return _REMOTE.match(template) is not None


def resolve(template: str | None, vcs_ref: str | None) -> TemplateSource:
    """The template to use for --template/--vcs-ref as given on the command line.

    The bundled template renders at HEAD including uncommitted changes, so the package
    and the template it generates come from the same checkout. Another template without
    --vcs-ref gets Copier's default: its latest release tag. A local path is made
    absolute, because Copier records it in the project's answers file and `copier
    update` must find it again from the project.
    """
    if template is None:
        return TemplateSource(str(bundled_template_root()), vcs_ref or "HEAD")
    if looks_remote(template):
        return TemplateSource(template, vcs_ref)
    path = Path(template).expanduser()
    if not path.exists():
        raise InputError(f"--template {template}: no such folder")
    return TemplateSource(str(path.resolve()), vcs_ref)


def default_matrix_file() -> Path:
    """The answer-set matrix the template's own tests use."""
    return bundled_template_root() / "tests" / "matrix.yml"
