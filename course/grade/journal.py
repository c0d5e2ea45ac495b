"""Which results were applied: a table in the gradebook (the truth, written in the same
transaction as the grades: course/grade/apply.py), mirrored to an fsynced JSONL file for
people. This is the one reader of it: every "latest result of a student" in the course
comes from :meth:`Journal.latest`.
"""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from pathlib import Path

TABLE = "course_grading_journal"
_COLUMNS = ("key", "unit", "student", "digest", "status", "reason", "score", "max_score",
            "seconds", "worker", "applied_at")


class Journal:
    def __init__(self, workspace: Path, unit: str):
        self.db_path = Path(workspace) / "gradebook.db"
        self.path = Path(workspace) / "grading-journal" / f"{unit}.jsonl"
        self.unit = unit

    # -- reading (read-only: a report never creates anything)
    def _rows(self) -> list[tuple]:
        if not self.db_path.exists():
            return []
        with contextlib.closing(sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)) as con:
            try:
                # rowid breaks ties: applied_at has one-second resolution
                return con.execute(f"SELECT key, record FROM {TABLE} WHERE unit = ? "
                                   f"ORDER BY applied_at, rowid", (self.unit,)).fetchall()
            except sqlite3.OperationalError:  # no journal yet (or graded by nbgrader alone)
                return []

    def applied(self) -> dict:
        """{key: record} of every result applied to the gradebook, oldest first."""
        return {key: json.loads(record) for key, record in self._rows()}

    def latest(self) -> dict:
        """{student: their most recently applied record}."""
        records = {}
        for record in self.applied().values():
            records[record["student"]] = record
        return records

    # -- writing (the coordinator alone, inside its transaction)
    @staticmethod
    def ensure_table(db) -> None:
        from sqlalchemy import text
        db.execute(text(f"CREATE TABLE IF NOT EXISTS {TABLE} ("
                        "key TEXT PRIMARY KEY, unit TEXT, student TEXT, digest TEXT, "
                        "status TEXT, reason TEXT, score REAL, max_score REAL, seconds REAL, "
                        "worker TEXT, applied_at TEXT, record TEXT)"))
        db.commit()

    @staticmethod
    def insert(db, record: dict) -> None:
        from sqlalchemy import text
        db.execute(text(f"INSERT OR REPLACE INTO {TABLE} VALUES ("
                        + ", ".join(f":{c}" for c in _COLUMNS) + ", :record)"),
                   {k: record.get(k) for k in _COLUMNS} | {"record": json.dumps(record)})

    # -- the file for people
    def append(self, records: list) -> None:
        if not records:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        with self.path.open("a") as fh:
            for record in records:
                fh.write(json.dumps(record, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        if new:
            fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def keys_in_file(self) -> set:
        if not self.path.exists():
            return set()
        keys = set()
        for line in self.path.read_text().splitlines():
            try:
                keys.add(json.loads(line)["key"])
            except (ValueError, KeyError):
                continue  # a line cut by a crash
        return keys

    def repair(self, applied: dict) -> None:
        """Records committed to the database but not yet in the file (a crash between)."""
        missing = [applied[k] for k in sorted(applied) if k not in self.keys_in_file()]
        if self.path.exists():
            text = self.path.read_bytes()
            if text and not text.endswith(b"\n"):  # drop a half-written last line
                self.path.write_bytes(text[:text.rfind(b"\n") + 1])
        self.append(missing)
