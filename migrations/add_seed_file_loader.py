"""Migration: add the seed adapter's file loader to a service generated before 0.2.0.

    python add_seed_file_loader.py TEMPLATE_ROOT CONTEXT_NAME MODULE_PATH

Run by `copier update` in the project root, after the update, with Copier's Python. Since
0.2.0 `cmd/<service>/main.go` (a shared file, so the update merges it) calls
`seed.LoadFile`, which opening a FIFO seed needs and which lives in the seed adapter,
`internal/<context>/adapter/seed/file.go`. The bounded context is the user's, so the update
does not write there: this script does, once, from the template's own file.

It writes the file only when the seed adapter is there (a service whose owner deleted it
has a main.go of its own) and the file is not (a second run changes nothing); it prints
what it did. The template file uses three placeholders, filled in here without Jinja
(migrations use the standard library only); any other placeholder is an error.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The loader in the template, relative to the template repository's root.
TEMPLATE_FILE = (
    "template/internal/{{ context_name }}/adapter/"
    "{% if example_domain %}seed{% endif %}/file.go.jinja"
)


def render(source: str, context_name: str, module_path: str) -> str:
    text = (
        source.replace("{{ module_path }}", module_path)
        .replace("{{ context_name | upper }}", context_name.upper())
        .replace("{{ context_name }}", context_name)
    )
    if "{{" in text or "{%" in text:
        raise ValueError(f"{TEMPLATE_FILE} uses a placeholder this migration cannot fill")
    return text


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    template_root, context_name, module_path = argv
    adapter = Path("internal", context_name, "adapter", "seed")
    target = adapter / "file.go"
    if not (adapter / "seed.go").is_file():
        print(f"migration: {adapter}/seed.go is gone; not adding {target}")
        return 0
    if target.exists():
        return 0
    source = (Path(template_root) / TEMPLATE_FILE).read_text(encoding="utf-8")
    target.write_text(render(source, context_name, module_path), encoding="utf-8")
    print(f"migration: added {target} (seed.LoadFile, which cmd/ now calls)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
