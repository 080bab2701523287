"""The postgres answer set against a real PostgreSQL server (Debian's postgresql, a
throwaway cluster, see postgres_support): the generated integration tests (the shared
repository suite, 50 concurrent reservations, migrations), the `migrate` subcommand, and
the built service across a restart and a database outage. Benchmarks print figures."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from gosvc.bench import wrk
from gosvc.service import Service
from postgres_support import PostgresCluster, shared_cluster
from support import DEFAULTS, MATRIX, BuildSet, Built, SharedWork, run_tool

pytestmark = pytest.mark.components

POSTGRES = next(answer_set for answer_set in MATRIX if answer_set.name == "postgres")


@pytest.fixture(scope="module")
def cluster(shared_work: SharedWork) -> Iterator[PostgresCluster]:
    with shared_cluster(shared_work.root / "postgres") as shared:
        yield shared


@pytest.fixture(scope="module")
def built(built_set: BuildSet) -> Built:
    return built_set(POSTGRES)


_databases = iter(range(1_000_000))
_databases_lock = threading.Lock()


def new_database(cluster: PostgresCluster, purpose: str) -> str:
    with _databases_lock:
        number = next(_databases)
    return cluster.create_database(f"{purpose}_{os.getpid()}_{number}")


def migrate(built: Built, url: str, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(built.binary), "migrate", command],
        env={**os.environ, "DATABASE_URL": url},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def test_generated_integration_tests_pass_none_skipped(
    built: Built, cluster: PostgresCluster
) -> None:
    url = new_database(cluster, "integration")
    result = run_tool(
        ["make", "test-integration", f"TEST_DATABASE_URL={url}", "TEST_FLAGS=-v"],
        cwd=built.project.path,
        timeout=900,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert re.findall(r"--- SKIP: \S+", output) == []
    # The shared repository suite ran on the postgres repository, its 50-way race included.
    for name in (
        "TestRepository/ConcurrentReservationsNeverOversell",
        "TestRepository/CanceledContext",
        "TestRepository/AddExistingID",
        "TestDeadlineIsHonoured",
        "TestMigrateStatusListsTheMigrations",
        "TestProbesFollowStartUp",
    ):
        assert f"--- PASS: {name} " in output, f"{name} did not pass:\n{output[-4000:]}"


def test_make_test_integration_needs_the_url(built: Built) -> None:
    env = {key: value for key, value in os.environ.items() if key != "TEST_DATABASE_URL"}
    result = subprocess.run(
        ["make", "test-integration"],
        cwd=built.project.path,
        env=env,
        capture_output=True,
        encoding="utf-8",
        check=False,
    )
    assert result.returncode != 0
    assert "TEST_DATABASE_URL" in result.stdout + result.stderr


def test_migrations_go_up_down_and_up_again(built: Built, cluster: PostgresCluster) -> None:
    url = new_database(cluster, "updown")
    database = url.rsplit("/", 1)[1].split("?")[0]
    table = str(built.project.values["aggregate_plural"]).replace("-", "_")

    def tables() -> set[str]:
        listed = cluster.psql(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'", database
        )
        return set(listed.split())

    up = migrate(built, url, "up")
    assert up.returncode == 0, up.stderr
    assert "OK" in up.stdout and "00001_create_table.sql" in up.stdout
    assert table in tables()
    status = migrate(built, url, "status")
    assert status.returncode == 0 and "applied" in status.stdout, status.stderr

    down = migrate(built, url, "down")
    assert down.returncode == 0, down.stderr
    assert table not in tables()
    assert "pending" in migrate(built, url, "status").stdout

    again = migrate(built, url, "up")
    assert again.returncode == 0, again.stderr
    assert table in tables()
    assert migrate(built, url, "up").stdout.strip() == "no migrations to apply"


def test_two_migrate_ups_at_once_apply_each_migration_once(
    built: Built, cluster: PostgresCluster
) -> None:
    url = new_database(cluster, "concurrent")
    database = url.rsplit("/", 1)[1].split("?")[0]
    env = {**os.environ, "DATABASE_URL": url}
    processes = [
        subprocess.Popen(
            [str(built.binary), "migrate", "up"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    applied = [out for out, _ in outputs if "OK" in out]
    assert len(applied) == 1, outputs  # one applied it; the other waited, found none pending
    versions = cluster.psql(
        "SELECT count(*) FROM goose_db_version WHERE version_id = 1 AND is_applied", database
    )
    assert versions.strip() == "1"


def test_migrate_usage_is_exit_2(built: Built) -> None:
    result = subprocess.run(
        [str(built.binary), "migrate", "sideways"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "usage:" in result.stderr


def test_service_keeps_data_across_restarts_and_rides_out_a_database_outage(
    built: Built, tmp_path: Path
) -> None:
    # A private server: this test stops it.
    private = PostgresCluster.create()
    try:
        private.start()
        url = private.create_database("outage")
        assert migrate(built, url, "up").returncode == 0
        env = {"DATABASE_URL": url, "DATABASE_CONNECT_TIMEOUT": "1s", "DRAIN_DELAY": "0s"}

        service = Service(built.binary, log_dir=tmp_path, env=env)
        try:
            service.wait_for_status("/readyz", 200)
            created = service.request(
                "POST", built.collection, json.dumps({"id": "sku-pg", "quantity": 10})
            )
            assert created.status == 201, created.body
            reserved = service.request(
                "POST", f"{built.collection}/sku-pg/reservations", json.dumps({"quantity": 3})
            )
            assert reserved.status == 200, reserved.body
            service.terminate()
            assert service.wait() == 0
        finally:
            service.stop()

        # A new process: what it serves came from the database.
        (tmp_path / "restarted").mkdir()
        restarted = Service(built.binary, log_dir=tmp_path / "restarted", env=env)
        try:
            restarted.wait_for_status("/readyz", 200)
            got = restarted.request("GET", f"{built.collection}/sku-pg").json()
            assert (got["on_hand"], got["reserved"], got["available"]) == (10, 3, 7)

            private.stop()
            restarted.wait_for_status("/readyz", 503, timeout=20)
            assert restarted.status("/livez") == 200

            private.start()
            restarted.wait_for_status("/readyz", 200, timeout=30)
            again = restarted.request("GET", f"{built.collection}/sku-pg").json()
            assert again["available"] == 7
            assert restarted.process.poll() is None  # the same process all along
            restarted.terminate()
            assert restarted.wait() == 0
        finally:
            restarted.stop()
    finally:
        private.remove()


def test_benchmark_postgres_repository_get_and_update(
    built: Built, cluster: PostgresCluster
) -> None:
    url = new_database(cluster, "bench")
    context = built.project.values["context_name"]
    result = run_tool(
        [
            "go",
            "test",
            "-run",
            "^$",
            "-bench",
            ".",
            "-benchmem",
            "-benchtime",
            "2s",
            f"./internal/{context}/infrastructure/postgres",
        ],
        cwd=built.project.path,
        env={**os.environ, "TEST_DATABASE_URL": url},
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("Benchmark")]
    assert {line.split("-")[0] for line in lines} == {"BenchmarkGet", "BenchmarkUpdate"}
    load = Path("/proc/loadavg").read_text(encoding="utf-8").split()[:3]
    print(f"\npostgres repository (load average {' '.join(load)}):")
    print("\n".join(lines))


def test_benchmark_api_throughput_postgres_vs_memory(
    built: Built, built_set: BuildSet, cluster: PostgresCluster, tmp_path: Path
) -> None:
    """The example's GET of one record through wrk (the bench's load generator), the memory
    service and the postgres one in alternating rounds; figures printed, not asserted."""
    memory = built_set(DEFAULTS)
    url = new_database(cluster, "throughput")
    assert migrate(built, url, "up").returncode == 0
    services = {}
    for name, target, env in (
        ("memory", memory, {}),
        ("postgres", built, {"DATABASE_URL": url, "DATABASE_MAX_CONNS": "16"}),
    ):
        (tmp_path / name).mkdir()
        service = Service(target.binary, log_dir=tmp_path / name, env={"LOG_LEVEL": "warn", **env})
        services[name] = (service, target)
    try:
        for service, target in services.values():
            service.wait_for_status("/readyz", 200)
            created = service.request(
                "POST", target.collection, json.dumps({"id": "sku-bench", "quantity": 10})
            )
            assert created.status == 201, created.body
        load = wrk.Load(threads=2, connections=32, seconds=5)
        results: dict[str, list[wrk.Result]] = {name: [] for name in services}
        for _ in range(3):
            for name, (service, target) in services.items():
                address = f"http://127.0.0.1:{service.http_port}{target.collection}/sku-bench"
                results[name].append(wrk.run(address, load, tmp_path))
    finally:
        for service, _ in services.values():
            service.stop()
    load_average = " ".join(Path("/proc/loadavg").read_text(encoding="utf-8").split()[:3])
    print(f"\nGET {built.collection}/{{id}}, wrk -t2 -c32 -d5s x 3 rounds (load {load_average}):")
    for name, runs in results.items():
        assert all(run.requests > 0 for run in runs)
        best = max(runs, key=lambda run: run.requests_per_second)
        print(
            f"  {name:9} {best.requests_per_second:9.0f} req/s (best of 3; all: "
            + ", ".join(f"{run.requests_per_second:.0f}" for run in runs)
            + f")  p50 {best.p50_ms:.2f} ms  p99 {best.p99_ms:.2f} ms  errors {best.errors}"
        )
