"""Helpers shared by the data-layer tests (a uniquely named module: tests/conftest.py is 'conftest')."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_MIRROR = REPO.parent / "shared" / "datasets"


def _mirror_path() -> Path:
    env = os.environ.get("COURSE_DATA_MIRROR", "")
    first = next((p for p in env.split(os.pathsep) if p.strip()), None)
    return Path(first) if first else DEFAULT_MIRROR


MIRROR = _mirror_path()


def read_manifest() -> list[dict]:
    rows = (MIRROR / "MANIFEST.tsv").read_text().splitlines()
    header = rows[0].split("\t")
    return [dict(zip(header, r.split("\t"))) for r in rows[1:] if r.strip()]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tree_state(folder: Path) -> dict[str, tuple[int, int]]:
    """{relative path: (size, mtime_ns)} for every entry under folder, to prove nothing was written."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}
