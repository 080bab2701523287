"""Layer 5, update: a service generated with `database=memory` at an older template
version, edited by hand, then moved to PostgreSQL by `copier update --trust -d
database=postgres`: the adapter, its migrations, the config and the wiring arrive, the
user's edits stay, and the result passes the project checks (gofmt, go mod tidy -diff,
vet, build, test)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from gosvc.checks import go_environment
from support import DEFAULTS, copier, gosvc
from update_tools import (
    ANSWERS_FILE,
    HTTP_ADAPTER,
    NEW_ROUTE,
    NEW_RULE,
    PROD_OVERLAY,
    History,
    commit_all,
    edit_all,
    generate,
    git,
    replace_in,
    snapshot_checkout,
    synthetic_history,
)

pytestmark = pytest.mark.update

OPENAPI = Path("template", "api", "openapi.yaml.jinja")
ADAPTER = Path("internal", "inventory", "infrastructure", "postgres")


def make_older_version(repo: Path) -> None:
    # One change in a shared file, in a part the user does not edit: the older version.
    replace_in(repo / OPENAPI, "      summary: Liveness\n", "      summary: Liveness probe\n")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    clone = snapshot_checkout(tmp_path_factory.mktemp("update-pg-template") / "template")
    return synthetic_history(clone, make_older_version, lambda repo: None)


@pytest.fixture(scope="module")
def switched(
    history: History, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    project = generate(
        history, history.old, tmp_path_factory.mktemp("pg-switch") / "svc", DEFAULTS.answers
    )
    assert not (project / ADAPTER).exists()
    edit_all(project)
    commit_all(project, "Hand edits")
    result = copier(
        "update",
        "--trust",
        "--defaults",
        "--skip-tasks",
        "--vcs-ref",
        history.new,
        "-d",
        "database=postgres",
        str(project),
    )
    return project, result


def test_switching_to_postgres_brings_adapter_migrations_config_and_wiring(
    switched: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    project, result = switched
    assert result.returncode == 0, result.stdout + result.stderr
    for relative in (
        ADAPTER / "repository.go",
        ADAPTER / "migrations.go",
        ADAPTER / "migrations" / "00001_create_table.sql",
        Path("internal", "platform", "database", "migrate.go"),
        Path("internal", "platform", "config", "database.go"),
        Path("cmd", "inventory-service", "database.go"),
    ):
        assert (project / relative).is_file(), f"{relative} did not arrive"
    main = (project / "cmd" / "inventory-service" / "main.go").read_text(encoding="utf-8")
    assert "repo := m.openRepository()" in main
    assert "memory.NewRepository()" not in main
    assert "github.com/jackc/pgx/v5 v5.13.0" in (project / "go.mod").read_text(encoding="utf-8")
    answers = yaml.safe_load((project / ANSWERS_FILE).read_text(encoding="utf-8"))
    assert answers["database"] == "postgres"
    assert "summary: Liveness\n" in (project / "api" / "openapi.yaml").read_text(encoding="utf-8")
    conflicted = git(project, "diff", "--name-only", "--diff-filter=U").split()
    assert conflicted == []
    assert "<<<<<<<" not in main


def test_the_users_edits_stay(switched: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    project, _ = switched
    stock = (project / "internal" / "inventory" / "domain" / "stock.go").read_text("utf-8")
    assert NEW_RULE in stock
    handler = (project / HTTP_ADAPTER / "handler.go").read_text(encoding="utf-8")
    assert NEW_ROUTE in handler
    assert "value: 12\n" in (project / PROD_OVERLAY).read_text(encoding="utf-8")
    assert "/v1/stocks/{id}/availability:" in (project / "api" / "openapi.yaml").read_text(
        encoding="utf-8"
    )


def test_the_switched_service_passes_its_checks(
    switched: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    project, _ = switched
    commit_all(project, "Switch to PostgreSQL")
    checked = gosvc("check", str(project))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    built = subprocess.run(
        ["make", "build"],
        cwd=project,
        env=go_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    usage = subprocess.run(
        [str(project / "bin" / "inventory-service"), "migrate"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert usage.returncode == 2 and "migrate up|down|status" in usage.stderr
