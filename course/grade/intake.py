"""Finding submissions: an nbgrader-style folder, the nbgrader exchange, an LMS download.

Every source yields :class:`course.grade.records.Submission` records (student, notebooks by
their graded name, timestamp, notes). Sources are only read: nothing is modified.

* folder (``<student>/<unit>/pytorch.ipynb``), nbgrader's layout: names are strict; any
  other ``.ipynb`` is reported in the notes, and a student with none of the two names is
  *missing* with the reason.
* nbgrader exchange (``<root>/<course>/inbound/<student>+<unit>+<timestamp>+<rand>/``):
  the latest submission per student, with its timestamp.
* LMS zip downloads, where Colab students upload their notebooks:
  - Canvas: ``<name>_[LATE_]<user id>_<submission id>_<file name>`` (Canvas appends
    ``-1``, ``-2`` to resubmitted file names);
  - Moodle: ``<Full Name>_<participant id>_assignsubmission_file_/<file name>``.
  A file counts for the framework its name says (``pytorch``/``torch``,
  ``tensorflow``/``keras``/``tf``; "Copy of ...", "(1)" and "-2" are ignored) or, failing
  that, the framework recorded in the notebook's own metadata (Colab keeps it). Member
  names are never used as paths (zip-slip), sizes are capped (zip bombs), and the
  student's name and LMS id are kept in a roster for the grade export.
"""
from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from course.frameworks import framework_of as _alias
from course.grade.records import GradingError, Submission
from course.grade.sanitize import left_out_note, other_files
from course.layout import NOTEBOOKS, Unit

MAX_NOTEBOOK_BYTES = 64 * 2**20
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")
_CANVAS = re.compile(r"^(?P<name>[a-z0-9]+?)_(?:late_)?(?P<uid>\d+)_(?P<sid>\d+)_(?P<file>.+)$",
                     re.IGNORECASE)
_MOODLE = re.compile(r"^(?P<name>.+?)_(?P<pid>\d+)_assignsubmission_file_?$")


def safe_student_id(raw: str) -> str:
    sid = re.sub(r"[^A-Za-z0-9_.@-]+", "-", raw.strip()).strip("-.")[:100]
    if not sid or not _SAFE_ID.match(sid):
        raise ValueError(f"cannot make a student id from {raw!r}")
    return sid


def _read_secret(folder: Path) -> str | None:
    path = folder / "submission_secret.txt"
    if path.is_file():
        text = path.read_text(errors="replace").strip()
        return text[:128] if re.fullmatch(r"[A-Za-z0-9_-]{1,128}", text) else None
    return None


def _read_timestamp(folder: Path) -> str | None:
    path = folder / "timestamp.txt"
    if path.is_file():
        text = path.read_text(errors="replace").strip()
        return text[:64] or None
    return None


# ============================================================================ folder

def from_folder(unit: Unit, folder: Path) -> list[Submission]:
    """``folder/<student>/<unit>/<framework>.ipynb``; other notebook names are reported."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GradingError(f"submissions folder {folder} does not exist")
    subs = []
    for student_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        found = student_dir / unit.slug
        if not found.is_dir() or not _SAFE_ID.match(student_dir.name):
            continue
        files = {n: found / n for n in NOTEBOOKS.values() if (found / n).is_file()}
        subs.append(Submission(student_dir.name, unit.slug, files, _read_timestamp(found),
                               _notes(found, files), origin=str(found), secret=_read_secret(found)))
    return subs


def _notes(folder: Path, files: dict) -> list[str]:
    """What in a submission folder is not graded: other notebooks (named so the student
    can rename them) and any other file (only ever named: nothing reads it)."""
    others = sorted(p.name for p in folder.iterdir()
                    if p.suffix.lower() == ".ipynb" and p.name not in files and p.is_file())
    notes = [f"{name} was not graded: the notebook must be named "
             f"{' or '.join(NOTEBOOKS.values())}" for name in others]
    rest = [name for name in other_files(folder) if name not in others]
    return notes + ([left_out_note(rest)] if rest else [])


# ============================================================================ exchange

def from_exchange(unit: Unit, exchange_root: Path, course_id: str = "open-dl-course") -> list[Submission]:
    """The latest submission of each student in the nbgrader exchange's inbound folder."""
    inbound = Path(exchange_root) / course_id / "inbound"
    if not inbound.is_dir():
        raise GradingError(f"no exchange inbound folder at {inbound}")
    latest: dict = {}
    for path in inbound.iterdir():
        parts = path.name.rsplit("+", 3)
        if not path.is_dir() or len(parts) != 4 or parts[1] != unit.slug:
            continue
        student, _, stamp, _ = parts
        if not _SAFE_ID.match(student):
            continue
        if student not in latest or stamp > latest[student][0]:
            latest[student] = (stamp, path)
    subs = []
    for student, (stamp, path) in sorted(latest.items()):
        files = {n: path / n for n in NOTEBOOKS.values() if (path / n).is_file()}
        subs.append(Submission(student, unit.slug, files, _read_timestamp(path) or stamp,
                               _notes(path, files), origin=str(path), secret=_read_secret(path)))
    return subs


# ============================================================================ LMS zips

@dataclass
class _Member:
    student: str
    name: str          # display name from the LMS
    lms: str           # "canvas" | "moodle"
    lms_id: str
    filename: str
    data: bytes
    when: tuple


def framework_of(filename: str, data: bytes | None = None) -> str | None:
    """Which framework a file is, from its name or else its notebook metadata."""
    stem = PurePosixPath(filename).name.lower()
    stem = re.sub(r"^copy of ", "", stem)
    stem = re.sub(r"\.ipynb$", "", stem)
    stem = re.sub(r"(\s*\(\d+\)|-\d+)$", "", stem)
    words = set(re.split(r"[^a-z0-9]+", stem))
    hits = {_alias(w) for w in words} - {None}
    if len(hits) == 1:
        return hits.pop()
    if data:
        try:
            meta = json.loads(data.decode("utf-8-sig")).get("metadata", {})
            fw = (meta.get("course") or {}).get("framework")
            return fw if fw in NOTEBOOKS else None
        except (ValueError, AttributeError):
            return None
    return None


def _members(zip_path: Path, unit: Unit) -> tuple[list[_Member], list[str]]:
    out, skipped = [], []
    total = 0
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            parts = PurePosixPath(info.filename.replace("\\", "/")).parts
            base = parts[-1] if parts else ""
            is_link = (info.external_attr >> 16) & 0o170000 == 0o120000
            if is_link or not base or base.startswith("."):
                continue
            if info.file_size > MAX_NOTEBOOK_BYTES:
                skipped.append(f"{info.filename}: larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB, skipped")
                continue
            total += info.file_size
            if total > 4 * 2**30:
                raise GradingError(f"{zip_path}: more than 4 GiB of files: not an LMS download?")
            moodle = _MOODLE.match(parts[-2]) if len(parts) >= 2 else None
            canvas = _CANVAS.match(base)
            if moodle:
                name, lms_id, lms, filename = moodle["name"], moodle["pid"], "moodle", base
            elif canvas:
                name, lms_id, lms, filename = canvas["name"], canvas["uid"], "canvas", canvas["file"]
            else:
                skipped.append(f"{info.filename}: not a Canvas or Moodle submission file name")
                continue
            data = zf.read(info)
            if len(data) > MAX_NOTEBOOK_BYTES:
                skipped.append(f"{info.filename}: larger than declared, skipped")
                continue
            student = safe_student_id(f"{lms}-{lms_id}")
            out.append(_Member(student, name.replace("_", " ").strip(), lms, lms_id, filename,
                               data, info.date_time))
    return out, skipped


def from_lms_zip(unit: Unit, zip_path: Path, dest: Path) -> tuple[list[Submission], dict, list]:
    """Submissions in a Canvas or Moodle download; their files are written under ``dest``.

    Returns (submissions, roster {student: {name, lms, lms_id}}, skipped-member notes).
    """
    zip_path = Path(zip_path)
    if not zipfile.is_zipfile(zip_path):
        raise GradingError(f"{zip_path} is not a zip file")
    members, skipped = _members(zip_path, unit)
    by_student: dict = {}
    for m in members:
        by_student.setdefault(m.student, []).append(m)
    subs, roster = [], {}
    for student, items in sorted(by_student.items()):
        roster[student] = {"name": items[0].name, "lms": items[0].lms, "lms_id": items[0].lms_id}
        folder = Path(dest) / student / unit.slug
        files, notes = {}, []
        chosen: dict = {}
        for m in sorted(items, key=lambda m: m.when):
            if not m.filename.lower().endswith(".ipynb"):
                notes.append(f"{m.filename} was not graded: not a notebook (.ipynb)")
                continue
            fw = framework_of(m.filename, m.data)
            if fw is None:
                notes.append(f"{m.filename} was not graded: neither its name nor its content "
                             f"says PyTorch or TensorFlow")
                continue
            if fw in chosen:
                notes.append(f"{chosen[fw].filename} was replaced by the later {m.filename}")
            chosen[fw] = m
        for fw, m in chosen.items():
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / NOTEBOOKS[fw]
            path.write_bytes(m.data)       # our own name: the member name is never a path
            files[NOTEBOOKS[fw]] = path
        when = max(m.when for m in items)
        stamp = datetime(*when, tzinfo=timezone.utc).isoformat() if when[0] >= 1980 else None
        subs.append(Submission(student, unit.slug, files, stamp, notes,
                               origin=f"{zip_path.name}: {items[0].name}"))
    return subs, roster, skipped


def save_roster(workspace: Path, roster: dict) -> Path:
    """Merge LMS names and ids into ``workspace/lms-roster.json`` (used by the export)."""
    path = Path(workspace) / "lms-roster.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    known.update(roster)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(known, indent=1, sort_keys=True))
    tmp.replace(path)
    return path


def load_roster(workspace: Path) -> dict:
    path = Path(workspace) / "lms-roster.json"
    return json.loads(path.read_text()) if path.exists() else {}


def find_submissions(unit: Unit, *, submissions: Path | None = None, workspace: Path,
                     exchange: Path | None = None, lms_zip: Path | None = None) -> list:
    """The submissions to grade, from one source (default: the workspace's submitted/)."""
    if lms_zip is not None:
        subs, roster, skipped = from_lms_zip(unit, lms_zip, workspace / "intake" / unit.slug)
        save_roster(workspace, roster)
        for line in skipped:
            print(f"intake: {line}")
        return subs
    if exchange is not None:
        return from_exchange(unit, exchange)
    folder = submissions if submissions is not None else workspace / "submitted"
    if submissions is None and not folder.is_dir():
        return []
    return from_folder(unit, folder)
