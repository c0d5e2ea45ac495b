"""Loaders return the right arrays from the mirror; subsets are stratified and deterministic."""
from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
import warnings

import numpy as np
import pytest

import course.data as cd
from course.data import datasets, loaders, shapes
from ._data_helpers import REPO, sha256, tree_state

pytestmark = pytest.mark.usefixtures("mirror")  # fail clearly if the mirror is missing


def per_class(y, k=10):
    return np.bincount(np.asarray(y), minlength=k).tolist()


# ----------------------------------------------------------------------------- images

def test_fashion_mnist_full(mirror):
    ds = cd.load_fashion_mnist()
    (x_train, y_train), (x_test, y_test) = ds
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64
    assert per_class(y_train) == [6000] * 10 and per_class(y_test) == [1000] * 10
    assert ds.classes[9] == "Ankle boot" and not ds.lossy
    assert 0 < x_train.mean() < 255 and x_train.max() == 255
    again = cd.load_fashion_mnist()  # warm: from the parsed cache
    assert again.source.startswith("parsed cache")
    np.testing.assert_array_equal(again.x_train, x_train)
    np.testing.assert_array_equal(again.y_test, y_test)


def test_mnist_subsets_are_stratified_and_deterministic(mirror):
    full = cd.load_mnist()
    assert len(full.train) == 60000 and len(full.test) == 10000
    a = cd.load_mnist(n_train=1000, n_test=200, seed=0)
    b = cd.load_mnist(n_train=1000, n_test=200, seed=0)
    c = cd.load_mnist(n_train=1000, n_test=200, seed=1)
    # MNIST's classes are not balanced: each keeps its share (5,923 zeros of 60,000 -> 99 of 1,000)
    share = np.bincount(full.y_train) * 1000 / 60000
    assert sum(per_class(a.y_train)) == 1000 and np.abs(per_class(a.y_train) - share).max() < 1
    assert per_class(a.y_train)[0] == 99 and sum(per_class(a.y_test)) == 200
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)
    # a subset is made of real examples of the full set, with their own labels
    idx = cd.stratified_indices(full.y_train, 1000, 0)
    np.testing.assert_array_equal(full.x_train[idx], a.x_train)
    np.testing.assert_array_equal(full.y_train[idx], a.y_train)


def test_stratified_indices_exact_shares():
    y = np.array([0] * 50 + [1] * 30 + [2] * 20)
    idx = cd.stratified_indices(y, 10, seed=3)
    assert per_class(y[idx], 3) == [5, 3, 2]
    assert len(set(idx.tolist())) == 10 and list(idx) == sorted(idx)
    assert per_class(y[cd.stratified_indices(y, 7, 0)], 3) == [4, 2, 1]  # largest remainders
    assert len(cd.stratified_indices(y, None, 0)) == 100 and len(cd.stratified_indices(y, 500, 0)) == 100
    with pytest.raises(ValueError):
        cd.stratified_indices(y, 0, 0)


def test_cifar10_from_the_jpeg_mirror_within_memory_budget(mirror, session_cache):
    # Cold load (decode 60,000 JPEGs) in a fresh process, to measure its peak memory.
    code = ("import resource, warnings, json, course.data as cd\n"
            "warnings.simplefilter('ignore')\n"
            "ds = cd.load_cifar10()\n"
            "print(json.dumps({'peak_kib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,"
            " 'train': len(ds.train), 'test': len(ds.test)}))")
    env = {**os.environ, "COURSE_DATA_CACHE": str(session_cache)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (report["train"], report["test"]) == (50000, 10000)
    assert report["peak_kib"] < 1024 * 1024, f"peak RSS {report['peak_kib'] / 1024:.0f} MiB"

    with pytest.warns(cd.LossyDataWarning, match="JPEG"):
        full = cd.load_cifar10()
    assert full.lossy and full.variant == "jpeg" and "lossy" in full.info
    assert full.x_train.shape == (50000, 32, 32, 3) and full.x_train.dtype == np.uint8
    assert per_class(full.y_train) == [5000] * 10 and per_class(full.y_test) == [1000] * 10
    with pytest.warns(cd.LossyDataWarning):
        sub = cd.load_cifar10(n_train=500, n_test=100, seed=0)
    assert per_class(sub.y_train) == [50] * 10 and per_class(sub.y_test) == [10] * 10
    assert sub.x_train.shape == (500, 32, 32, 3)
    with pytest.raises(cd.DataError, match="allow_lossy=False"):
        cd.load_cifar10(allow_lossy=False)


def _fake_cifar_tarball(per_batch: int = 20):
    rng = np.random.default_rng(0)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images = rng.integers(0, 256, (per_batch, 32, 32, 3), dtype=np.uint8)
        labels = [i % 10 for i in range(per_batch)]
        batches[name] = (images, labels)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, (images, labels) in batches.items():
            blob = pickle.dumps({b"data": images.transpose(0, 3, 1, 2).reshape(len(images), -1),
                                 b"labels": labels, b"batch_label": name.encode()})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return buf.getvalue(), batches


def test_cifar10_prefers_the_official_pickles_when_they_can_be_had(mirror, tmp_path, monkeypatch):
    blob, batches = _fake_cifar_tarball()
    origin = tmp_path / "cifar-10-python.tar.gz"
    origin.write_bytes(blob)
    text = (REPO / "datasets" / "registry.toml").read_text()
    real = loaders.get_entry("cifar10").variant("python").files[0]
    text = (text.replace(real.sha256, sha256(blob)).replace(f"size = {real.size}", f"size = {len(blob)}")
                .replace(real.urls[0], origin.as_uri()))
    (tmp_path / "registry.toml").write_text(text)
    monkeypatch.setenv("COURSE_DATA_REGISTRY", str(tmp_path / "registry.toml"))
    monkeypatch.setenv("COURSE_DATA_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("COURSE_DATA_OFFLINE")

    paths = cd.fetch("cifar10", variant="python")  # 'download' over file://
    assert paths == {"cifar10/cifar-10-python.tar.gz": tmp_path / "cache" / "cifar10" / "cifar-10-python.tar.gz"}
    with warnings.catch_warnings():
        warnings.simplefilter("error", cd.LossyDataWarning)
        ds = cd.load_cifar10()  # the mirror's JPEGs are there too, but the pickles win
    assert ds.variant == "python" and not ds.lossy
    np.testing.assert_array_equal(ds.x_train[:20], batches["data_batch_1"][0])  # HWC order restored
    np.testing.assert_array_equal(ds.x_test, batches["test_batch"][0])
    assert ds.y_train.tolist() == [i % 10 for i in range(20)] * 5


def test_digits_and_breast_cancer():
    d = cd.load_digits()
    assert d.x_train.shape[1:] == (8, 8) and len(d.train) + len(d.test) == 1797
    assert d.x_train.dtype == np.float32 and 0 <= d.x_train.min() and d.x_train.max() <= 1
    assert len(d.test) == 359 and abs(np.bincount(d.y_test).min() - 36) <= 1
    b = cd.load_breast_cancer(n_train=100)
    assert b.x_train.shape == (100, 30) and len(b.feature_names) == 30
    assert b.classes == ["malignant", "benign"] and per_class(b.y_train, 2) == [37, 63]


def test_mnist1d_generated_offline_without_touching_global_rng():
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    ds = cd.load_mnist1d()
    assert np.random.rand() == expected
    assert ds.x_train.shape == (4000, 40) and ds.x_test.shape == (1000, 40)
    assert sorted(set(ds.y_train.tolist())) == list(range(10))
    sub = cd.load_mnist1d(n_train=400)
    assert len(sub.train) == 400 and np.abs(np.array(per_class(sub.y_train)) - np.bincount(ds.y_train) / 10).max() < 1


# ----------------------------------------------------------------------------- shapes

def test_shapes_are_deterministic_and_captions_match_attributes():
    ds = cd.load_shapes(n_train=200, n_test=50, seed=7)
    x, captions = ds.train
    assert x.shape == (200, 32, 32, 3) and x.dtype == np.uint8
    again = cd.load_shapes(n_train=200, n_test=50, seed=7)
    np.testing.assert_array_equal(again.x_train, x)
    assert list(again.y_train) == list(captions)
    assert not np.array_equal(cd.load_shapes(n_train=200, n_test=1, seed=8).x_train, x)
    assert not np.array_equal(ds.x_test, x[:50])  # train and test are different draws
    # image i does not depend on how many are drawn
    np.testing.assert_array_equal(cd.load_shapes(n_train=20, n_test=1, seed=7).x_train, x[:20])

    extra = ds.train.extra
    counts = np.bincount(extra["n_shapes"], minlength=4)
    assert counts[0] == 0 and min(counts[1:]) > 20  # 1, 2 and 3 shapes all occur
    for i in range(200):
        attrs = extra["attributes"][i]
        assert captions[i] == shapes.caption_for(attrs)
        assert captions[i].startswith(f"a {attrs[0]['size']} {attrs[0]['colour']} {attrs[0]['shape']}")
        for j, a in enumerate(attrs):
            assert shapes.SHAPES[extra["shape_ids"][i, j]] == a["shape"]
            cx, cy = int(a["x"]), int(a["y"])
            pixel = x[i, cy, cx].astype(int)  # the centre pixel has the shape's colour
            assert np.abs(pixel - shapes.COLOURS[a["colour"]]).max() <= 40, (i, a, pixel)
    assert set(w for c in captions for w in c.replace(",", " ,").split()) <= set(ds.info["vocabulary"])


def test_shapes_relations_and_bigger_images():
    a = {"shape": "circle", "colour": "red", "size": "small", "x": 10, "y": 5, "radius": 3}
    b = {"shape": "square", "colour": "blue", "size": "large", "x": 12, "y": 20, "radius": 6}
    c = {"shape": "triangle", "colour": "green", "size": "small", "x": 28, "y": 22, "radius": 3}
    assert shapes.caption_for([a, b]) == "a small red circle above a large blue square"
    assert shapes.caption_for([a, b, c]) == \
        "a small red circle above a large blue square, which is left of a small green triangle"
    big = cd.load_shapes(n_train=10, n_test=2, size=64)
    assert big.x_train.shape == (10, 64, 64, 3)


# ----------------------------------------------------------------------------- text and tables

def test_sst2():
    ds = cd.load_sst2()
    assert (len(ds.train), len(ds.val), len(ds.test)) == (6920, 872, 1821)
    assert isinstance(ds.x_train[0], str) and set(ds.y_train.tolist()) == {0, 1}
    assert ds.classes == ["negative", "positive"]
    assert "\t" not in "".join(ds.x_train)
    sub = cd.load_sst2(n_train=100, seed=2)
    assert len(sub.train) == 100 and abs(int(sub.y_train.sum()) - round(100 * ds.y_train.mean())) <= 1


def test_sms_spam():
    ds = cd.load_sms_spam()
    assert len(ds.train) + len(ds.test) == 5574
    assert int(ds.y_train.sum() + ds.y_test.sum()) == 747
    assert len(ds.test) == 1115 and int(ds.y_test.sum()) in (149, 150)


def test_tinyshakespeare():
    corpus = cd.load_tinyshakespeare()
    assert len(corpus.text) == 1_115_394 and len(corpus.vocab) == 65
    assert len(corpus.train_ids) + len(corpus.val_ids) == 1_115_394
    assert corpus.decode(corpus.train_ids[:14]) == corpus.text[:14] == "First Citizen:"
    np.testing.assert_array_equal(corpus.encode("To be"), [corpus.stoi[c] for c in "To be"])
    with pytest.raises(ValueError, match="not in the vocabulary"):
        corpus.encode("€")


def test_adult():
    ds = cd.load_adult()
    assert len(ds.train) + len(ds.test) == 32561
    assert ds.x_train.shape[1] == len(ds.feature_names) and ds.x_train.dtype == np.float32
    assert {"age", "sex=Female", "sex=Male", "race=White"} <= set(ds.feature_names)
    assert set(ds.train.extra["sex"]) == {"Female", "Male"}
    rate = (ds.y_train.sum() + ds.y_test.sum()) / 32561
    assert 0.23 < rate < 0.25  # 7,841 earn >50K
    sub = cd.load_adult(n_train=1000, n_test=300)
    assert len(sub.train) == 1000 and len(sub.train.extra["race"]) == 1000


def test_compas():
    raw = cd.load_table("compas")
    assert len(raw) == 53 and len(raw["id"]) == 7214
    ds = cd.load_compas()
    assert len(ds.train) + len(ds.test) == 6172  # ProPublica's filters
    assert set(ds.train.extra) == {"sex", "race", "decile_score", "score_text"}
    assert ds.train.extra["decile_score"].min() >= 1 and ds.train.extra["decile_score"].max() <= 10
    assert "race=African-American" in ds.feature_names


def test_imagenet_classes():
    names = cd.imagenet_classes()
    assert len(names) == 1000 and names[0].startswith("tench") and names[281] == "tabby, tabby cat"


def test_loaders_never_write_to_the_mirror(mirror):
    before = tree_state(mirror)
    cd.load_sst2(), cd.load_adult(), cd.load_mnist(n_train=10)
    assert tree_state(mirror) == before


# ----------------------------------------------------------------------------- parsed cache

def test_corrupt_parsed_cache_is_rebuilt(mirror, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_CACHE", str(tmp_path))
    first = cd.load_mnist()
    (npz,) = (tmp_path / "parsed").glob("mnist-*.npz")
    npz.write_bytes(npz.read_bytes()[:1000])  # damaged behind our back
    again = cd.load_mnist()
    assert not again.source.startswith("parsed cache")
    np.testing.assert_array_equal(again.x_test, first.x_test)
    assert cd.load_mnist().source.startswith("parsed cache")
    assert [p.name for p in (tmp_path / "parsed").iterdir()] == [npz.name]  # no temp files left


def test_unwritable_cache_still_loads_from_the_mirror(mirror, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("COURSE_DATA_CACHE", str(blocker / "cache"))
    monkeypatch.setattr(datasets, "_warned_cache", False)
    with pytest.warns(UserWarning, match="Could not cache parsed arrays"):
        ds = cd.load_mnist(n_train=100)
    assert len(ds.train) == 100


# ----------------------------------------------------------------------------- adapters

def test_torch_adapter():
    import torch

    ds = cd.load_mnist(n_train=256, n_test=64)
    loader = cd.to_torch(ds.train, batch_size=32, shuffle=True, seed=1)
    xb, yb = next(iter(loader))
    assert xb.shape == (32, 1, 28, 28) and xb.dtype == torch.float32 and yb.dtype == torch.int64
    assert 0.0 <= float(xb.min()) and float(xb.max()) <= 1.0
    xb2, yb2 = next(iter(cd.to_torch(ds.train, batch_size=32, shuffle=True, seed=1)))
    assert torch.equal(yb, yb2) and torch.equal(xb, xb2)
    single = cd.to_torch(ds.test)
    x0, y0 = single[0]
    assert len(single) == 64 and torch.allclose(x0[0], torch.from_numpy(ds.x_test[0] / 255.0).float())
    assert int(y0) == int(ds.y_test[0])

    colour = cd.to_torch(cd.load_shapes(n_train=8, n_test=1).train, batch_size=4)
    xc, captions = next(iter(colour))
    assert xc.shape == (4, 3, 32, 32) and isinstance(captions[0], str)

    text = cd.to_torch(cd.load_sst2(n_train=16).train, batch_size=4)
    sentences, labels = next(iter(text))
    assert isinstance(sentences[0], str) and labels.shape == (4,)


def test_tf_adapter():
    import tensorflow as tf

    ds = cd.load_mnist(n_train=256, n_test=64)
    batch = next(iter(cd.to_tf(ds.train, batch_size=32, shuffle=True, seed=1)))
    xb, yb = batch
    assert tuple(xb.shape) == (32, 28, 28, 1) and xb.dtype == tf.float32 and yb.dtype == tf.int64
    assert float(tf.reduce_max(xb)) <= 1.0
    again = next(iter(cd.to_tf(ds.train, batch_size=32, shuffle=True, seed=1)))
    np.testing.assert_array_equal(again[1].numpy(), yb.numpy())

    xs, _ = next(iter(cd.to_tf(cd.load_shapes(n_train=8, n_test=1).train, batch_size=8)))
    assert tuple(xs.shape) == (8, 32, 32, 3)
    text = cd.to_tf(cd.load_sms_spam(n_train=10).train, batch_size=5)
    assert text.element_spec[0].dtype == tf.string
    first = next(iter(text))[0].numpy()[0].decode()
    assert first == cd.load_sms_spam(n_train=10).x_train[0]
