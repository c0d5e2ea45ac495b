"""The registry: complete, consistent with the mirror's MANIFEST, and every entry verifies."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tomllib

import pytest

from course.data.registry import default_registry_path, load_registry
from course.data.verification import verify
from ._data_helpers import REPO, read_manifest, tree_state

REQUIRED_DATASETS = {"mnist", "fashion-mnist", "cifar10", "sst2", "sms-spam", "tinyshakespeare", "adult",
                     "compas", "digits", "breast-cancer", "mnist1d", "shapes", "imagenet-classes"}
REQUIRED_MODELS = {"efficientnet-lite0", "all-minilm-l6-v2"}

pytestmark = pytest.mark.usefixtures("mirror")  # fail clearly if the mirror is missing


def test_registry_is_data_not_a_package():
    assert default_registry_path() == REPO / "datasets" / "registry.toml"
    assert not (REPO / "datasets" / "__init__.py").exists()
    with open(REPO / "datasets" / "registry.toml", "rb") as fh:
        assert tomllib.load(fh)["schema"] == 1


def test_registry_lists_everything_the_course_uses():
    reg = load_registry()
    assert set(reg.names("datasets")) == REQUIRED_DATASETS
    assert set(reg.names("models")) == REQUIRED_MODELS
    for e in reg:
        assert e.title and e.licence and e.citation and e.what and e.source, e.name
        for f in e.files:
            assert f.urls or f.package or f.path == "cifar10/cifar10-jpg.tar.gz", f.path  # mirror-only
            assert all(u.startswith(("https://", "http://")) for u in f.urls), f.path


def test_every_mirror_file_is_in_the_registry_with_its_content_hash(mirror):
    specs = {f.path: f for e in load_registry() for f in e.files}
    for row in read_manifest():
        spec = specs[row["path"]]
        if row["sha256_of_gunzipped_content"] != "-":
            assert spec.compression == "gzip"
            assert spec.sha256 == row["sha256_of_gunzipped_content"]
        else:
            assert spec.compression is None
            assert (spec.sha256, spec.size) == (row["sha256"], int(row["bytes"]))


def test_every_registry_entry_resolves_from_the_mirror_and_verifies(mirror):
    manifest = {r["path"] for r in read_manifest()}
    before = tree_state(mirror)
    rows = verify(progress=False)
    assert {r.entry for r in rows} == REQUIRED_DATASETS | REQUIRED_MODELS
    failed = [r for r in rows if r.failed]
    assert not failed, failed
    for r in rows:
        if r.file in manifest:
            assert (r.status, r.where) == ("ok", "mirror"), r
    by_file = {r.file: r for r in rows}
    assert by_file["cifar10/cifar-10-python.tar.gz"].status == "absent (optional)"  # the JPEG form is there
    assert by_file["models/efficientnet-lite0-57934424.pth"].where == "package"
    assert tree_state(mirror) == before  # a mirror is only ever read


def test_generated_entries_are_checked_against_their_fingerprint(monkeypatch):
    from course.data.verification import verify_entry

    reg = load_registry()
    shapes = reg.get("shapes")
    assert verify_entry(shapes)[0].status == "ok"
    wrong = shapes.__class__(**{**shapes.__dict__, "reference": {**shapes.reference, "sha256": "0" * 64}})
    assert verify_entry(wrong)[0].status == "DAMAGED"


def _cli(argv):
    from course.data import cli

    parser = argparse.ArgumentParser(prog="course")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_verify_passes_on_the_mirror(mirror, capsys):
    assert _cli(["data", "verify", "--no-progress"]) == 0
    out = capsys.readouterr().out
    n = sum(len(e.files) if e.kind == "files" else 1 for e in load_registry())
    assert f"all {n} files ok" in out
    assert "fashion-mnist/train-images-idx3-ubyte.gz" in out


def test_cli_verify_fails_on_a_missing_or_damaged_file(toy, capsys):
    (toy.mirror / "toy").mkdir()
    (toy.mirror / "toy" / "hello.txt").write_bytes(b"tampered")
    assert _cli(["data", "verify", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "toy/hello.txt " in out and "DAMAGED" in out and "MISSING" in out
    assert "0 ok, 3 failed" in out


def test_cli_fetch_and_list(toy, monkeypatch, capsys):
    monkeypatch.delenv("COURSE_DATA_OFFLINE")
    assert _cli(["data", "fetch", "toy-text"]) == 0
    assert f"toy-text: toy/hello.txt -> {toy.cache / 'toy/hello.txt'} (download)" in capsys.readouterr().out
    assert _cli(["data", "fetch", "toy-mirror-only"]) == 1
    assert "no public download address" in capsys.readouterr().err
    assert _cli(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "toy-text" in out and "cache" in out and "missing" in out


def test_cli_runs_as_a_module_with_mirror_option(mirror, session_cache):
    env = {**os.environ, "COURSE_DATA_CACHE": str(session_cache)}
    env.pop("COURSE_DATA_MIRROR")
    proc = subprocess.run([sys.executable, "-m", "course.data.cli", "verify", "--mirror", str(mirror),
                           "sst2", "tinyshakespeare"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "all 4 files ok" in proc.stdout


def test_readme_documents_every_entry():
    text = (REPO / "datasets" / "README.md").read_text()
    for e in load_registry():
        assert f"`{e.name}`" in text, e.name
        assert e.licence in text, e.name


@pytest.mark.parametrize("module", ["course.data", "course.zoo"])
def test_importing_imports_no_framework(module):
    code = (f"import sys, {module}; bad = [m for m in ('torch', 'tensorflow', 'keras', 'jax') if m in sys.modules];"
            f"print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
