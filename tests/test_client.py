"""The outbound HTTP client's fault injection, run in a generated project: the Go tests of
internal/platform/httpclient drive a client from httpclient.New against fake downstreams
(failing, down, slow, rate-limiting) and count what reaches them. This test runs them with
the race detector and checks that every scenario ran and passed: a deleted or skipped one
fails here, and goleak fails the run on a leaked goroutine. It also runs the benchmarks
once, so their figures are printed and the benchmarks kept working."""

from __future__ import annotations

import re

import pytest
from gosvc.matrix import AnswerSet
from support import DEFAULTS, MATRIX, RenderSet, run_tool

pytestmark = pytest.mark.build

PACKAGE = "./internal/platform/httpclient/"
# The client package is generated with and without the example domain.
NO_EXAMPLE = next(s for s in MATRIX if s.answers.get("example_domain") is False)

# Each scenario the issue asks to prove, by the Go test that proves it.
SCENARIOS = {
    "TestRetriesUntilTheDownstreamRecovers": "fails N times then recovers",
    "TestAttemptsAreBounded": "total attempts bounded",
    "TestFullJitterGrowsAndSpreads": "growing, jittered delays",
    "TestBreakerOpensAndFailsFastWithoutTheNetwork": "down: breaker opens, no network",
    "TestBreakerNeedsTheMinimumRequestCount": "minimum request count",
    "TestBreakerTripsOnTheFailureRatio": "failure ratio",
    "TestBreakerHalfOpensAndClosesWhenTheDownstreamIsBack": "half-open recovery, logged, counted",
    "TestCallerCancellationIsNotADownstreamFailure": "caller's cancellation not a failure",
    "TestOutageRetriesStayWithinTheBudget": "concurrent outage within the retry budget",
    "TestEachAttemptHasItsOwnTimeout": "per-attempt timeout",
    "TestTheCallTimeoutBoundsEveryAttempt": "overall deadline",
    "TestCallerCancellationStopsEverything": "caller's cancellation stops at once",
    "TestCancellationDuringTheWaitStopsTheRetries": "cancellation during a backoff wait",
    "TestWhatIsNotRetried": "POST without Idempotency-Key, 4xx, unreplayable body",
    "TestPostWithIdempotencyKeyIsRetriedWithItsBody": "POST with Idempotency-Key",
    "TestRetryAfterIsHonoured": "Retry-After: 2 honoured",
    "TestRetryAfterBeyondTheCapIsCapped": "Retry-After over the cap capped",
    "TestSequentialCallsReuseConnections": "1000 calls, a handful of connections",
    "TestRetriedAnswersGiveTheirConnectionBack": "retried answers drained",
    "TestEveryAttemptIsAClientSpanInTheCallersTrace": "a client span per attempt",
}


@pytest.mark.parametrize(
    "answer_set",
    [DEFAULTS, NO_EXAMPLE],
    ids=lambda answer_set: answer_set.name,
)
def test_fault_injection_scenarios_pass(answer_set: AnswerSet, rendered_set: RenderSet) -> None:
    project = rendered_set(answer_set)
    result = run_tool(
        ["go", "test", "-race", "-count=1", "-v", PACKAGE], cwd=project.path, timeout=600
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    passed = set(re.findall(r"^--- PASS: (\w+)", output, re.MULTILINE))
    missing = {name: what for name, what in SCENARIOS.items() if name not in passed}
    assert missing == {}, output
    assert "--- SKIP" not in output, output


def test_benchmarks_print_their_figures(rendered_set: RenderSet) -> None:
    project = rendered_set(DEFAULTS)
    result = run_tool(
        ["go", "test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime=200x", PACKAGE],
        cwd=project.path,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for name in ("BenchmarkGet/bare", "BenchmarkGet/resilient", "BenchmarkOpenBreaker"):
        assert re.search(
            rf"^{re.escape(name)}\S*\s+\d+\s+\d+ ns/op\s+\d+ B/op\s+\d+ allocs/op",
            output,
            re.MULTILINE,
        ), output
    print(output)
