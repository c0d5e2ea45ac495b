"""The assignment as a packed nbgrader workspace (gradebook, source/, release/), made once
by the coordinator and unpacked once per worker: no shared filesystem is needed."""
from __future__ import annotations

import atexit
import hashlib
import io
import tarfile
import tempfile
from pathlib import Path

from course.grade import scratch
from course.layout import NOTEBOOKS, Unit

_templates: dict = {}
_unpacked_dirs: dict = {}


def template_digest(unit: Unit) -> str:
    """What a unit's grading depends on in its files: the solution notebooks."""
    h = hashlib.sha256()
    for fw in sorted(NOTEBOOKS):
        path = unit.solution(fw)
        if path.exists():
            h.update(path.read_bytes())
    return h.hexdigest()


def make_template(unit: Unit) -> bytes:
    key = (str(unit.source_dir), template_digest(unit))
    if key not in _templates:
        _templates.clear()
        _templates[key] = _pack(unit)
    return _templates[key]


def _pack(unit: Unit) -> bytes:
    from course.release.workspace import prepare
    with tempfile.TemporaryDirectory(prefix="course-template-") as tmp:
        root = Path(tmp)
        prepare(unit, root)
        (root / "nbgrader_config.py").unlink(missing_ok=True)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for part in ("gradebook.db", "source", "release"):
                tar.add(root / part, arcname=part)
        return buf.getvalue()


def unpacked(template: bytes) -> Path:
    """This process's copy of a template (unpacked once per worker)."""
    digest = hashlib.sha256(template).hexdigest()[:16]
    path = _unpacked_dirs.get(digest)
    if path is None or not path.exists():
        path = scratch.private_dir("template")
        with tarfile.open(fileobj=io.BytesIO(template), mode="r:gz") as tar:
            if hasattr(tarfile, "data_filter"):   # Python >= 3.11.4 (Debian 12 has 3.11.2)
                tar.extractall(path, filter="data")
            else:  # our own archive, made by make_template: nothing hostile in it
                tar.extractall(path)
        if not _unpacked_dirs:
            atexit.register(lambda: [scratch.release(p) for p in list(_unpacked_dirs.values())])
        _unpacked_dirs[digest] = path
    return path
