"""The instructor report and the LMS exports, from the hostile batch's real gradebook."""
from __future__ import annotations

import csv

from course.report import gradebook
from course.report.lms import export_lms


def test_report_counts_statuses_and_explains_failures(hostile_run):
    report = hostile_run["result"].report
    data = report["summary"]
    rows = hostile_run["rows"].values()
    assert data["students"] == len(rows)
    assert data["status_counts"] == {s: sum(1 for r in rows if r.status == s)
                                     for s in data["status_counts"]}
    assert all(data["status_counts"][s] for s in ("graded", "timed out", "crashed",
                                                  "invalid notebook", "tampered", "missing"))
    failures = {student: (status, reason) for student, status, reason in data["failures"]}
    assert failures == {r.student: (r.status, r.reason) for r in rows if r.status != "graded"}
    assert all(reason for _, reason in failures.values())
    slowest = [student for _, student, _ in data["slowest"]]
    assert slowest[0] in ("h-loop-ignores-interrupt", "h-infinite-loop", "h-fork-bomb")
    assert {q["question"] for q in data["questions"]} == set(next(iter(rows)).parts)
    png = report["png"].read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    text = report["markdown"].read_text()
    assert "## Not simply graded" in text and "h-segfault" in text and "segmentation fault" in text
    assert "<table>" in report["html"].read_text()


def test_csv_has_a_status_and_a_reason_per_student(hostile_run):
    with hostile_run["result"].csv.open() as fh:
        table = {r["student"]: r for r in csv.DictReader(fh)}
    for student, row in hostile_run["rows"].items():
        assert (table[student]["status"], table[student]["reason"]) == (row.status, row.reason)


def test_canvas_and_moodle_layouts(hostile_run, tmp_path):
    unit, rows = hostile_run["unit"], list(hostile_run["rows"].values())
    roster = {"reference-pytorch": {"name": "Ada Lovelace", "lms": "moodle", "lms_id": "77"}}
    canvas = list(csv.reader(export_lms(unit, rows, roster, "canvas", tmp_path / "c.csv",
                                        title="Assignment 1 (4567)").open()))
    assert canvas[0][:6] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                             "Assignment 1 (4567)"]
    assert canvas[1][0].strip() == "Points Possible" and canvas[1][5] == "20"
    parts = [c.split(": ", 1)[1] for c in canvas[0][6:]]
    assert parts == sorted(rows[0].parts) and len(canvas) == len(rows) + 2
    assert canvas[0][6] == f"Assignment 1: {parts[0]}"
    by_id = {r[1]: r for r in canvas[2:]}
    assert by_id["77"][0] == "Ada Lovelace" and by_id["77"][5] == "20"
    moodle = list(csv.DictReader(export_lms(unit, rows, roster, "moodle", tmp_path / "m.csv").open()))
    by = {r["Identifier"]: r for r in moodle}
    assert by["Participant 77"]["Grade"] == "20" and by["Participant 77"]["Maximum Grade"] == "20"
    assert by["h-segfault"]["Feedback comments"].startswith("crashed:")
    assert set(moodle[0]) >= {"Identifier", "Full name", "Grade", "Maximum Grade",
                              "Feedback comments", *parts}


def test_export_verb_reads_the_gradebook(hostile_run, tmp_path):
    from course.cli import main
    out = tmp_path / "canvas.csv"
    assert main(["export-lms", "01", "--lms", "canvas", "--csv", str(out),
                 "--workspace", str(hostile_run["workspace"])]) == 0
    assert len(list(csv.reader(out.open()))) == len(gradebook.read_grades(
        hostile_run["unit"], hostile_run["workspace"])) + 2
