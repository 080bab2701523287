"""The package-rename migration script on its own, on a small module with every kind of
import it must handle (test_update.py runs it inside `copier update` on a real service)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import run_tool
from update_tools import RENAME_SCRIPT, tree_files

pytestmark = pytest.mark.update

OLD, NEW = "internal/shop/adapter/http", "internal/shop/adapter/httpapi"
MODULE = {
    "go.mod": "module example.com/shop\n\ngo 1.25\n",
    f"{OLD}/handler.go": """\
// Package http serves the shop over HTTP.
package http

import "net/http"

// Handler returns the shop's handler.
func Handler() http.Handler { return http.NotFoundHandler() }
""",
    f"{OLD}/handler_test.go": """\
package http_test

import (
\t"testing"

\tshophttp "example.com/shop/internal/shop/adapter/http"
)

func TestHandler(t *testing.T) {
\tif shophttp.Handler() == nil {
\t\tt.Fatal("nil handler")
\t}
}
""",
    f"{OLD}/dto/dto.go": """\
package dto

// Item is a response body.
type Item struct{ ID string }
""",
    "cmd/shop/main.go": """\
package main

import "example.com/shop/internal/shop/adapter/http"

import (
\t"fmt"

\t"example.com/shop/internal/shop/adapter/http/dto"
)

// The old path in a string, which is not an import.
var packages = []string{
\t"example.com/shop/internal/shop/adapter/http",
}

func main() { fmt.Println(http.Handler() != nil, dto.Item{}, packages) }
""",
}


def write_module(root: Path) -> Path:
    for relative, content in MODULE.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(content, encoding="utf-8")
    return root


def migrate(root: Path) -> subprocess.CompletedProcess[str]:
    return run_tool([sys.executable, str(RENAME_SCRIPT), OLD, NEW], cwd=root)


def test_rename_moves_the_package_and_keeps_every_importer_compiling(tmp_path: Path) -> None:
    root = write_module(tmp_path / "shop")

    result = migrate(root)

    assert result.returncode == 0, result.stderr
    assert not (root / OLD).exists()
    handler = (root / NEW / "handler.go").read_text()
    assert handler.startswith("// Package httpapi serves the shop over HTTP.\npackage httpapi\n")
    assert (root / NEW / "handler_test.go").read_text().startswith("package httpapi_test\n")
    assert (root / NEW / "dto" / "dto.go").read_text().startswith("package dto\n")
    main = (root / "cmd" / "shop" / "main.go").read_text()
    # Unnamed import of the package: named after the old package so `http.X` still works.
    assert 'import http "example.com/shop/internal/shop/adapter/httpapi"\n' in main
    # A subpackage keeps its own name: only the path changes.
    assert '\t"example.com/shop/internal/shop/adapter/httpapi/dto"\n' in main
    # A string that is not an import stays.
    assert '\t"example.com/shop/internal/shop/adapter/http",\n' in main
    test_file = (root / NEW / "handler_test.go").read_text()
    assert '\tshophttp "example.com/shop/internal/shop/adapter/httpapi"\n' in test_file
    for argv in (["gofmt", "-l", "."], ["go", "vet", "./..."], ["go", "test", "./..."]):
        checked = run_tool(argv, cwd=root)
        assert checked.returncode == 0 and not (argv[0] == "gofmt" and checked.stdout), (
            f"{' '.join(argv)}:\n{checked.stdout}{checked.stderr}"
        )


def test_rename_is_idempotent(tmp_path: Path) -> None:
    root = write_module(tmp_path / "shop")
    assert migrate(root).returncode == 0
    after_first = tree_files(root)

    second = migrate(root)

    assert second.returncode == 0, second.stderr
    assert "nothing to do" in second.stdout
    assert tree_files(root) == after_first


def test_rename_refuses_to_merge_two_packages(tmp_path: Path) -> None:
    root = write_module(tmp_path / "shop")
    (root / NEW).mkdir(parents=True)
    (root / NEW / "mine.go").write_text("package httpapi\n")
    before = tree_files(root)

    result = migrate(root)

    assert result.returncode != 0
    assert f"both {OLD} and {NEW} hold Go files" in result.stderr
    assert tree_files(root) == before
