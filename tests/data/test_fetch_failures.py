"""Failure modes of fetching: each gives a student-readable message and leaves no partial file."""
from __future__ import annotations

import gzip
import multiprocessing
import os
import time
from pathlib import Path

import pytest

from course.data import files as F
from course.data.errors import (
    CacheNotWritableError, CorruptFileError, DataError, DataUnavailableError, HashMismatchError,
    IntegrityError, UnknownDatasetError,
)
from ._data_helpers import tree_state


def files_under(folder: Path) -> list[str]:
    """Everything in the cache except lock files (those are expected to stay)."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.is_file() and not p.name.endswith(".lock"))


# ----------------------------------------------------------------------------- not found

def test_offline_without_mirror_names_file_places_and_remedies(toy):
    spec = toy.spec("toy-text")
    with pytest.raises(DataUnavailableError) as exc:
        F.fetch_file(spec)
    msg = str(exc.value)
    assert "'hello.txt'" in msg and "'toy-text'" in msg
    # every place looked, in order
    places = [str(toy.mirror / "toy/hello.txt"), "/usr/share/datasets/toy/hello.txt", str(toy.cache / "toy/hello.txt")]
    positions = [msg.index(p) for p in places]
    assert positions == sorted(positions)
    assert "downloads: switched off (COURSE_DATA_OFFLINE is set)" in msg
    # how to pre-seed
    assert "COURSE_DATA_MIRROR=/srv/data" in msg and "/srv/data/toy/hello.txt" in msg
    assert "course data fetch toy-text" in msg
    assert files_under(toy.cache) == []


def test_unreachable_download_reports_each_url_and_writes_nothing(toy, monkeypatch):
    monkeypatch.delenv("COURSE_DATA_OFFLINE")
    (toy.origin / "toy" / "hello.txt").unlink()  # the 'server' is gone
    with pytest.raises(DataUnavailableError) as exc:
        F.fetch_file(toy.spec("toy-text"))
    msg = str(exc.value)
    assert "and it could not be downloaded (is this computer offline?)" in msg
    assert f"{toy.spec('toy-text').urls[0]}: download failed" in msg
    assert files_under(toy.cache) == []


def test_mirror_only_file_says_it_has_no_download(toy, monkeypatch):
    monkeypatch.delenv("COURSE_DATA_OFFLINE")
    with pytest.raises(DataUnavailableError, match="no public download address"):
        F.fetch_file(toy.spec("toy-mirror-only"))


def test_stale_partial_download_is_never_taken_for_the_file(toy):
    target = toy.cache / "toy" / "hello.txt"
    target.parent.mkdir(parents=True)
    (target.parent / ".hello.txt.abc123.part").write_bytes(toy.text[:1000])  # left by a killed process
    with pytest.raises(DataUnavailableError):
        F.fetch_file(toy.spec("toy-text"))
    assert not target.exists()


# ----------------------------------------------------------------------------- resolution order

def test_mirror_then_cache_then_download(toy, monkeypatch, tmp_path):
    spec = toy.spec("toy-text")
    second = tmp_path / "second-mirror"
    (second / "toy").mkdir(parents=True)
    (second / "toy" / "hello.txt").write_bytes(toy.text)
    monkeypatch.setenv("COURSE_DATA_MIRROR", os.pathsep.join([str(toy.mirror), str(second)]))
    loc = F.locate(spec)
    assert (loc.where, loc.path) == ("mirror", second / "toy" / "hello.txt")

    monkeypatch.setenv("COURSE_DATA_MIRROR", str(toy.mirror))
    monkeypatch.delenv("COURSE_DATA_OFFLINE")
    loc = F.locate(spec)
    assert loc.where == "download" and loc.path == toy.cache / "toy" / "hello.txt"
    assert loc.path.read_bytes() == toy.text
    assert F.locate(spec).where == "cache"  # second time: no download


def test_download_shows_progress_and_verifies_gzip_content(toy, monkeypatch):
    import tqdm

    bars = []

    class Recorder(tqdm.tqdm):
        def __init__(self, *args, **kwargs):
            bars.append(kwargs)
            super().__init__(*args, **{**kwargs, "disable": True})

    monkeypatch.setattr(tqdm, "tqdm", Recorder)
    monkeypatch.delenv("COURSE_DATA_OFFLINE")
    assert F.read_file(toy.spec("toy-gz")) == toy.text
    size = (toy.origin / "toy" / "hello.txt.gz").stat().st_size
    assert [(b["desc"], b["total"], b["unit"]) for b in bars] == [("hello.txt.gz", size, "B")]
    assert files_under(toy.cache) == ["toy/hello.txt.gz"]


def test_recompressed_gzip_counts_as_the_same_file(toy):
    # Distributors re-compress: other .gz bytes, same content, must verify.
    (toy.mirror / "toy").mkdir()
    (toy.mirror / "toy" / "hello.txt.gz").write_bytes(gzip.compress(toy.text, compresslevel=1, mtime=0))
    assert (toy.mirror / "toy" / "hello.txt.gz").read_bytes() != (toy.origin / "toy" / "hello.txt.gz").read_bytes()
    assert F.locate(toy.spec("toy-gz")).where == "mirror"


# ----------------------------------------------------------------------------- damaged copies

def test_hash_mismatch_in_cache_is_quarantined_and_said(toy):
    target = toy.cache / "toy" / "hello.txt"
    target.parent.mkdir(parents=True)
    bad = toy.text.replace(b"line 7 ", b"LINE 7 ")
    target.write_bytes(bad)
    with pytest.raises(HashMismatchError) as exc:
        F.fetch_file(toy.spec("toy-text"))
    msg = str(exc.value)
    quarantined = target.with_name("hello.txt.quarantine")
    assert "DAMAGED" in msg and "sha256" in msg and f"moved aside to {quarantined}" in msg
    assert "never used again" in msg
    assert not target.exists() and quarantined.read_bytes() == bad


def test_quarantined_cache_copy_is_replaced_by_a_good_download(toy, monkeypatch):
    monkeypatch.delenv("COURSE_DATA_OFFLINE")
    target = toy.cache / "toy" / "hello.txt"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x" * len(toy.text))
    with pytest.warns(UserWarning, match="moved aside"):
        paths = F.fetch("toy-text", registry=toy.registry)
    assert paths == {"toy/hello.txt": target}
    assert target.read_bytes() == toy.text
    assert target.with_name("hello.txt.quarantine").read_bytes() == b"x" * len(toy.text)


def test_damaged_download_is_quarantined_not_installed(toy, monkeypatch):
    monkeypatch.delenv("COURSE_DATA_OFFLINE")
    (toy.origin / "toy" / "hello.txt").write_bytes(toy.text[::-1])  # same size, wrong bytes
    with pytest.raises(HashMismatchError) as exc:
        F.fetch_file(toy.spec("toy-text"))
    assert "downloaded but DAMAGED" in str(exc.value)
    assert files_under(toy.cache) == ["toy/hello.txt.quarantine"]


def test_damaged_mirror_copy_is_reported_and_left_untouched(toy):
    (toy.mirror / "toy").mkdir()
    (toy.mirror / "toy" / "hello.txt").write_bytes(toy.text[:-1] + b"?")
    before = tree_state(toy.mirror)
    with pytest.raises(HashMismatchError) as exc:
        F.fetch_file(toy.spec("toy-text"))
    assert "left untouched (read-only copy" in str(exc.value)
    assert tree_state(toy.mirror) == before  # not moved, no lock or temp file written there


def test_damaged_mirror_falls_back_to_download(toy, monkeypatch):
    monkeypatch.delenv("COURSE_DATA_OFFLINE")
    (toy.mirror / "toy").mkdir()
    (toy.mirror / "toy" / "hello.txt").write_bytes(b"not it")
    before = tree_state(toy.mirror)
    assert F.locate(toy.spec("toy-text")).where == "download"
    assert tree_state(toy.mirror) == before


def test_truncated_gzip_in_cache_is_a_corrupt_archive(toy):
    target = toy.cache / "toy" / "hello.txt.gz"
    target.parent.mkdir(parents=True)
    full = gzip.compress(toy.text)
    target.write_bytes(full[: len(full) // 2])
    with pytest.raises(CorruptFileError) as exc:
        F.fetch_file(toy.spec("toy-gz"))
    msg = str(exc.value)
    assert "not a complete gzip archive" in msg and "truncated or corrupt" in msg
    assert files_under(toy.cache) == ["toy/hello.txt.gz.quarantine"]


def test_garbage_instead_of_gzip_is_a_corrupt_archive(toy):
    (toy.mirror / "toy").mkdir()
    (toy.mirror / "toy" / "hello.txt.gz").write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(CorruptFileError, match="not a complete gzip archive"):
        F.fetch_file(toy.spec("toy-gz"))


def test_truncated_plain_file_says_truncated(toy):
    (toy.mirror / "toy").mkdir()
    (toy.mirror / "toy" / "hello.txt").write_bytes(toy.text[:5000])
    with pytest.raises(CorruptFileError) as exc:
        F.fetch_file(toy.spec("toy-text"))
    assert f"truncated: 5,000 of {len(toy.text):,} bytes" in str(exc.value)


def test_truncated_download_leaves_nothing(toy, monkeypatch):
    monkeypatch.delenv("COURSE_DATA_OFFLINE")
    full = (toy.origin / "toy" / "hello.txt.gz").read_bytes()
    (toy.origin / "toy" / "hello.txt.gz").write_bytes(full[:-40])
    with pytest.raises(CorruptFileError):
        F.fetch_file(toy.spec("toy-gz"))
    assert files_under(toy.cache) == ["toy/hello.txt.gz.quarantine"]


# ----------------------------------------------------------------------------- interrupted downloads

def test_interrupted_download_leaves_no_partial_file(toy, monkeypatch):
    monkeypatch.delenv("COURSE_DATA_OFFLINE")

    def dies_halfway(url, dest, **kw):
        dest.write(toy.text[: len(toy.text) // 2])
        raise F.DownloadFailed("connection reset by peer")

    monkeypatch.setattr(F, "download_url", dies_halfway)
    with pytest.raises(DataUnavailableError, match="connection reset by peer"):
        F.fetch_file(toy.spec("toy-text"))
    assert files_under(toy.cache) == []

    def killed(url, dest, **kw):  # Ctrl-C in the middle of a download
        dest.write(toy.text[:100])
        raise KeyboardInterrupt

    monkeypatch.setattr(F, "download_url", killed)
    with pytest.raises(KeyboardInterrupt):
        F.fetch_file(toy.spec("toy-text"))
    assert files_under(toy.cache) == []

    monkeypatch.undo()  # the real downloader, downloads allowed again
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(toy.mirror))
    monkeypatch.setenv("COURSE_DATA_CACHE", str(toy.cache))
    assert F.read_file(toy.spec("toy-text")) == toy.text


DOWNLOAD_SECONDS = 1.0


def _fetch_in_child(spec, log: str, out: str):
    real = F.download_url

    def slow(url, dest, **kw):
        with open(log, "a") as fh:
            fh.write(f"download {time.time()}\n")
        time.sleep(DOWNLOAD_SECONDS)  # the other processes arrive meanwhile and must wait on the lock
        return real(url, dest, **kw)

    F.download_url = slow
    with open(log, "a") as fh:
        fh.write(f"start {time.time()}\n")
    try:
        Path(out).write_text(str(F.fetch_file(spec)))
    except Exception as e:  # reported to the parent through the file
        Path(out).write_text(f"ERROR {e!r}")


def test_concurrent_fetches_download_once_and_do_not_corrupt(toy, monkeypatch):
    monkeypatch.delenv("COURSE_DATA_OFFLINE")
    spec = toy.spec("toy-gz")
    log = toy.root / "downloads.log"
    ctx = multiprocessing.get_context("fork")
    outs = [toy.root / f"out{i}.txt" for i in range(3)]
    procs = [ctx.Process(target=_fetch_in_child, args=(spec, str(log), str(o))) for o in outs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    results = [o.read_text() for o in outs]
    assert results == [str(toy.cache / "toy" / "hello.txt.gz")] * 3, results
    events = [line.split() for line in log.read_text().splitlines()]
    downloads = [float(t) for kind, t in events if kind == "download"]
    starts = [float(t) for kind, t in events if kind == "start"]
    assert len(downloads) == 1  # one download; the others waited and found it
    assert sum(t < downloads[0] + DOWNLOAD_SECONDS for t in starts) == 3  # they really did overlap
    assert gzip.decompress((toy.cache / "toy" / "hello.txt.gz").read_bytes()) == toy.text
    assert files_under(toy.cache) == ["toy/hello.txt.gz"]


# ----------------------------------------------------------------------------- cache and names

def test_unwritable_cache_says_how_to_fix_it(toy, monkeypatch):
    monkeypatch.delenv("COURSE_DATA_OFFLINE")
    blocker = toy.root / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("COURSE_DATA_CACHE", str(blocker / "cache"))  # fails even for root
    with pytest.raises(CacheNotWritableError) as exc:
        F.fetch_file(toy.spec("toy-text"))
    msg = str(exc.value)
    assert f"Cannot write to the data cache folder {blocker / 'cache'}" in msg
    assert "export COURSE_DATA_CACHE=" in msg and "COURSE_DATA_MIRROR" in msg


def test_unwritable_cache_does_not_matter_when_the_mirror_has_it(toy, monkeypatch):
    (toy.mirror / "toy").mkdir()
    (toy.mirror / "toy" / "hello.txt").write_bytes(toy.text)
    blocker = toy.root / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("COURSE_DATA_CACHE", str(blocker / "cache"))
    assert F.read_file(toy.spec("toy-text")) == toy.text


def test_unknown_name_suggests_close_names(toy):
    with pytest.raises(UnknownDatasetError) as exc:
        toy.registry.get("toy_txt")
    assert "There is no data set or model called 'toy_txt'. Did you mean 'toy-text'" in str(exc.value)


def test_unknown_name_through_the_loaders(monkeypatch):
    import course.data as cd

    with pytest.raises(UnknownDatasetError) as exc:
        cd.load("fashion_mnst")
    assert "Did you mean 'fashion-mnist'" in str(exc.value)
    assert isinstance(exc.value, DataError) and isinstance(exc.value, KeyError)
    with pytest.raises(UnknownDatasetError, match="Did you mean 'mnist'"):
        cd.fetch("mnsit")


def test_names_are_normalised(toy):
    assert toy.registry.get("Toy_Text").name == "toy-text"


def test_exception_hierarchy():
    assert issubclass(HashMismatchError, IntegrityError) and issubclass(CorruptFileError, IntegrityError)
    for cls in (IntegrityError, DataUnavailableError, CacheNotWritableError, UnknownDatasetError):
        assert issubclass(cls, DataError)
