"""Fixtures for the data-layer tests: the offline mirror, an isolated cache, a toy registry.

Every test runs with downloads switched off ($COURSE_DATA_OFFLINE) unless it turns
them back on itself, and download tests only ever use file:// URLs: no test needs
the internet.
"""
from __future__ import annotations

import gzip
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from ._data_helpers import MIRROR, sha256


@pytest.fixture(scope="session")
def mirror() -> Path:
    if not (MIRROR / "MANIFEST.tsv").is_file():
        pytest.fail(
            f"The offline data mirror is missing: expected {MIRROR}/MANIFEST.tsv. Point "
            f"COURSE_DATA_MIRROR at the mirror folder (in CI: ../shared/datasets next to the repository).",
            pytrace=False,
        )
    return MIRROR


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory) -> Path:
    # One cache per test session: the first CIFAR/Fashion-MNIST load parses, later ones hit the .npz.
    return tmp_path_factory.mktemp("course-data-cache")


@pytest.fixture(autouse=True)
def data_env(monkeypatch, session_cache):
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(MIRROR))
    monkeypatch.setenv("COURSE_DATA_CACHE", str(session_cache))
    monkeypatch.setenv("COURSE_DATA_OFFLINE", "1")
    monkeypatch.delenv("COURSE_DATA_REGISTRY", raising=False)


@dataclass
class Toy:
    """A small registry with made-up files, a private mirror, cache and 'internet' (file:// origin)."""

    root: Path
    registry_path: Path
    mirror: Path
    cache: Path
    origin: Path
    text: bytes
    registry: object = None

    def spec(self, entry: str):
        return self.registry.get(entry).files[0]


@pytest.fixture
def toy(tmp_path, monkeypatch) -> Toy:
    from course.data.registry import Registry

    text = b"".join(b"line %d of the course's toy data set\n" % i for i in range(2000))
    origin, mirror, cache = tmp_path / "origin", tmp_path / "mirror", tmp_path / "cache"
    for d in (origin / "toy", mirror):
        d.mkdir(parents=True)
    (origin / "toy" / "hello.txt").write_bytes(text)
    (origin / "toy" / "hello.txt.gz").write_bytes(gzip.compress(text))
    reg = tmp_path / "registry.toml"
    reg.write_text(textwrap.dedent(f"""
        [datasets.toy-text]
        title = "toy text"
        licence = "CC0"
        citation = "the tests"
        [[datasets.toy-text.files]]
        path = "toy/hello.txt"
        size = {len(text)}
        sha256 = "{sha256(text)}"
        urls = ["{(origin / 'toy' / 'hello.txt').as_uri()}"]

        [datasets.toy-gz]
        title = "toy gzip"
        licence = "CC0"
        citation = "the tests"
        [[datasets.toy-gz.files]]
        path = "toy/hello.txt.gz"
        compression = "gzip"
        size = {len(text)}
        sha256 = "{sha256(text)}"
        urls = ["{(origin / 'toy' / 'hello.txt.gz').as_uri()}"]

        [datasets.toy-mirror-only]
        title = "toy, mirror only"
        licence = "CC0"
        citation = "the tests"
        [[datasets.toy-mirror-only.files]]
        path = "toy/only-in-mirrors.txt"
        size = {len(text)}
        sha256 = "{sha256(text)}"
        urls = []
    """))
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(mirror))
    monkeypatch.setenv("COURSE_DATA_CACHE", str(cache))
    monkeypatch.setenv("COURSE_DATA_REGISTRY", str(reg))
    return Toy(tmp_path, reg, mirror, cache, origin, text, Registry.load(reg))
