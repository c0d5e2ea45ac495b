"""The same round trip with ngshare as the exchange (as on Zero to JupyterHub, where
there is no shared disk), from the command line: ngshare runs as a hub service on
loopback, nbgrader talks to it through ngshare's exchange plugin, and the instructor
grades on a Dask cluster (a scheduler and a worker on loopback, as the instructor)."""
from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from course.release.config import COURSE_ID

from .conftest import (
    ALICE,
    ARTIFACTS,
    BOB,
    INSTRUCTOR,
    REPO,
    UNIT,
    class_on_a_hub,
    free_port,
)

COURSE = COURSE_ID


@pytest.fixture(scope="module")
def ngshare_hub(roster):
    with class_on_a_hub(roster, exchange="ngshare") as running:
        yield running


def test_the_round_trip_through_ngshare(ngshare_hub):
    hub, workspace = ngshare_hub, ngshare_hub.root / "course"
    manage = ["python", "-m", "ngshare_exchange.course_management"]
    hub.as_user(INSTRUCTOR, *manage, "create_course", COURSE, INSTRUCTOR)
    for student in (ALICE, BOB):
        hub.as_user(INSTRUCTOR, *manage, "add_student", COURSE, student, "--no-gb")
    hub.as_user(INSTRUCTOR, "nbgrader", "release_assignment", UNIT, cwd=workspace)
    answers = {ALICE: "reference-pytorch", BOB: "naive-tensorflow"}
    for student, fixture in answers.items():
        hub.as_user(student, "nbgrader", "fetch_assignment", UNIT, "--course", COURSE)
        src = next((REPO / "autograder" / "demo" / "submitted" / fixture / UNIT).glob("*.ipynb"))
        target = Path(f"~{student}").expanduser() / UNIT / src.name
        shutil.copyfile(src, target)
        shutil.chown(target, student, student)
        hub.as_user(student, "nbgrader", "submit", UNIT, "--course", COURSE)
    hub.as_user(INSTRUCTOR, "nbgrader", "collect", UNIT, cwd=workspace)
    assert sorted(p.name for p in (workspace / "submitted").iterdir()) == [ALICE, BOB]
    with dask_cluster(hub) as address:
        graded = hub.as_user(INSTRUCTOR, "python", "-m", "course", "grade", UNIT, "--workspace",
                             str(workspace), "--dask", address, extra={"PYTHONPATH": str(REPO)},
                             cwd=workspace, timeout=900)
    assert "2 graded now" in graded.stdout, graded.stdout + graded.stderr
    assert f"Dask cluster at {address}" in graded.stdout, graded.stdout
    hub.as_user(INSTRUCTOR, "nbgrader", "release_feedback", UNIT, cwd=workspace)
    with (workspace / f"grades-{UNIT}.csv").open() as fh:
        scores = {r["student"]: float(r["score"]) for r in csv.DictReader(fh)}
    expected = {ALICE: 20.0, BOB: _fixture_total("naive-tensorflow")}
    assert scores == expected
    for student, fixture in answers.items():
        hub.as_user(student, "nbgrader", "fetch_feedback", UNIT, "--course", COURSE)
        nb = "pytorch" if "pytorch" in fixture else "tensorflow"
        pages = sorted(Path(f"~{student}").expanduser().glob(f"{UNIT}/feedback/*/{nb}.html"))
        assert pages, student
        got = float(re.search(rf"{nb} \(Score: ([\d.]+) / ", pages[-1].read_text()).group(1))
        assert got == scores[student]


def _fixture_total(student: str) -> float:
    from course.author import fixtures
    from course.layout import find_unit
    return next(fx.total for fx in fixtures.load(find_unit("01")) if fx.student == student)


@contextmanager
def dask_cluster(hub):
    """A real Dask scheduler and one worker process on loopback, run as the instructor."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    grading_env = {"PYTHONPATH": str(REPO)}
    procs = [hub.start_as_user(INSTRUCTOR, "dask", "scheduler", "--host", "127.0.0.1",
                               "--port", str(port), "--no-dashboard",
                               log=ARTIFACTS / "dask-scheduler.log", extra=grading_env)]
    try:
        procs.append(hub.start_as_user(
            INSTRUCTOR, "dask", "worker", address, "--host", "127.0.0.1", "--nworkers", "1",
            "--nthreads", "1", "--memory-limit", "0", "--no-dashboard",
            log=ARTIFACTS / "dask-worker.log", extra=grading_env))
        wait_for_worker(hub, address)
        yield address
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(30)
                except Exception:  # noqa: BLE001 - a worker that will not stop
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def wait_for_worker(hub, address: str) -> None:
    probe = ("import sys; from distributed import Client; "
             "c = Client(sys.argv[1], timeout=60); c.wait_for_workers(1, timeout=60); c.close()")
    deadline = time.monotonic() + 90
    while True:
        out = hub.as_user(INSTRUCTOR, "python", "-c", probe, address, check=False, timeout=120)
        if out.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the Dask worker did not join {address}:\n{out.stderr[-2000:]}\n"
                                 + (ARTIFACTS / "dask-worker.log").read_text()[-2000:])
        time.sleep(1)
