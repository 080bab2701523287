"""Layer 2, build: every matrix set passes the project checks with the race detector
(gofmt, go mod tidy -diff, go vet, go build, go test -race), the same steps as the hook."""

from __future__ import annotations

import io

import pytest
from gosvc.checks import run_checks
from gosvc.matrix import AnswerSet
from support import MATRIX, RenderSet

pytestmark = pytest.mark.build


@pytest.mark.parametrize("answer_set", MATRIX, ids=lambda answer_set: answer_set.name)
def test_project_checks_pass_with_race_detector(
    answer_set: AnswerSet, rendered_set: RenderSet
) -> None:
    project = rendered_set(answer_set)
    log = io.StringIO()
    report = run_checks(project.path, race=True, out=log)
    assert report.ok, f"{answer_set.describe()}\n{log.getvalue()}"
    assert [result.step.name for result in report.results][-1] == "go test -race ./..."
