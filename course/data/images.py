"""Image data sets: MNIST, Fashion-MNIST, CIFAR-10, digits, MNIST-1D, shapes."""
from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
import warnings

import numpy as np

from course.data import shapes as _shapes
from course.data.datasets import (
    Dataset, Split, cache_key, fixed_split, load_npz, parsed_arrays, save_npz, subset,
)
from course.data.errors import DataError, LossyDataWarning
from course.data.files import locate
from course.data.registry import Variant, get_entry


def _idx(data: bytes) -> np.ndarray:
    """Parse an idx file (the MNIST format): magic, dims, then raw uint8 data."""
    if len(data) < 8 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise ValueError("not an idx file of unsigned bytes")
    ndim = data[3]
    dims = np.frombuffer(data, ">u4", count=ndim, offset=4).astype(int)
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims).copy()


def _parse_idx_set(v: Variant, content: dict[str, bytes]) -> dict[str, np.ndarray]:
    def get(stem):
        (path,) = [p for p in content if stem in p]
        return _idx(content[path])

    return {"x_train": get("train-images"), "y_train": get("train-labels").astype(np.int64),
            "x_test": get("t10k-images"), "y_test": get("t10k-labels").astype(np.int64)}


MNIST_CLASSES = [str(i) for i in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]


def _image_dataset(name: str, classes, arrays, v: Variant, source: str, n_train, n_test, seed) -> Dataset:
    return Dataset(
        name=name, classes=list(classes), lossy=v.lossy, variant=v.name, source=source,
        train=subset(Split(arrays["x_train"], arrays["y_train"]), n_train, seed),
        test=subset(Split(arrays["x_test"], arrays["y_test"]), n_test, seed),
    )


def load_mnist(*, n_train: int | None = None, n_test: int | None = None, seed: int = 0) -> Dataset:
    """MNIST digits: x uint8 (N, 28, 28), y int64 in 0..9; 60,000 / 10,000 (or stratified subsets)."""
    entry = get_entry("mnist")
    arrays, v, src = parsed_arrays(entry, _parse_idx_set)
    return _image_dataset("mnist", MNIST_CLASSES, arrays, v, src, n_train, n_test, seed)


def load_fashion_mnist(*, n_train: int | None = None, n_test: int | None = None, seed: int = 0) -> Dataset:
    """Fashion-MNIST: x uint8 (N, 28, 28), y int64 in 0..9; 60,000 / 10,000 (or stratified subsets)."""
    entry = get_entry("fashion-mnist")
    arrays, v, src = parsed_arrays(entry, _parse_idx_set)
    return _image_dataset("fashion-mnist", FASHION_CLASSES, arrays, v, src, n_train, n_test, seed)


def _parse_cifar(v: Variant, content: dict[str, bytes]) -> dict[str, np.ndarray]:
    (blob,) = content.values()
    if v.name == "python":
        return _parse_cifar_pickles(blob)
    return _parse_cifar_jpeg(blob)


def _parse_cifar_pickles(blob: bytes) -> dict[str, np.ndarray]:
    batches: dict[str, dict] = {}
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        for m in tar:
            base = m.name.rsplit("/", 1)[-1]
            if m.isfile() and (base.startswith("data_batch_") or base == "test_batch"):
                batches[base] = pickle.load(tar.extractfile(m), encoding="bytes")

    def stack(names):
        x = np.concatenate([batches[n][b"data"] for n in names]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        y = np.concatenate([batches[n][b"labels"] for n in names]).astype(np.int64)
        return np.ascontiguousarray(x, dtype=np.uint8), y

    x_train, y_train = stack([f"data_batch_{i}" for i in range(1, 6)])
    x_test, y_test = stack(["test_batch"])
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def _parse_cifar_jpeg(blob: bytes) -> dict[str, np.ndarray]:
    from PIL import Image

    found: dict[str, list] = {"train": [], "test": []}
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r|gz") as tar:  # streaming: one pass
        for m in tar:
            parts = m.name.split("/")
            if not m.isfile() or len(parts) < 3 or not parts[-1].endswith(".jpg"):
                continue
            split, cls, fname = parts[-3:]
            if split not in found or cls not in CIFAR10_CLASSES:
                continue
            with Image.open(io.BytesIO(tar.extractfile(m).read())) as im:
                img = np.asarray(im.convert("RGB"), dtype=np.uint8)
            found[split].append((CIFAR10_CLASSES.index(cls), int(fname[:-4]), img))
    out = {}
    for split, items in found.items():
        items.sort(key=lambda t: (t[0], t[1]))  # class, then file number: deterministic order
        out[f"x_{split}"] = np.stack([t[2] for t in items])
        out[f"y_{split}"] = np.array([t[0] for t in items], np.int64)
    return out


def load_cifar10(*, n_train: int | None = None, n_test: int | None = None, seed: int = 0,
                 variant: str | None = None, allow_lossy: bool = True) -> Dataset:
    """CIFAR-10: x uint8 (N, 32, 32, 3), y int64; 50,000 / 10,000 (or stratified subsets).

    Uses the official pickles when available (online, or in a mirror/cache), else the
    mirror's JPEG copy; then ``ds.lossy`` is True and a LossyDataWarning is issued.
    """
    entry = get_entry("cifar10")
    arrays, v, src = parsed_arrays(entry, _parse_cifar, variant)
    if v.lossy:
        if not allow_lossy:
            raise DataError("Only the lossy JPEG copy of CIFAR-10 is available here, and allow_lossy=False. "
                            "Fetch the official pickles with `course data fetch cifar10 --variant python`.")
        warnings.warn("CIFAR-10 comes from the JPEG mirror copy (quality 75): pixels differ slightly from the "
                      "official pickles; labels and splits are identical. ds.lossy is True.",
                      LossyDataWarning, stacklevel=2)
    ds = _image_dataset("cifar10", CIFAR10_CLASSES, arrays, v, src, n_train, n_test, seed)
    if v.lossy:
        ds.info["lossy"] = entry.notes
    return ds


def load_digits(*, n_train: int | None = None, n_test: int | None = None, seed: int = 0,
                test_fraction: float = 0.2) -> Dataset:
    """scikit-learn's 8x8 digits: x float32 (N, 8, 8) scaled to [0, 1], y int64; fixed stratified split."""
    entry = get_entry("digits")
    src = locate(entry.files[0], download=False).path  # verifies the file sklearn will read
    from sklearn.datasets import load_digits as sk_load

    bunch = sk_load()
    x = (bunch.images / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    tr, te = fixed_split(y, test_fraction)
    return Dataset("digits", classes=MNIST_CLASSES, source=str(src), variant="default",
                   train=subset(Split(x[tr], y[tr]), n_train, seed),
                   test=subset(Split(x[te], y[te]), n_test, seed))


def load_breast_cancer(*, n_train: int | None = None, n_test: int | None = None, seed: int = 0,
                       test_fraction: float = 0.2) -> Dataset:
    """scikit-learn's breast cancer: x float32 (N, 30), y int64 (0 malignant, 1 benign); fixed split."""
    entry = get_entry("breast-cancer")
    src = locate(entry.files[0], download=False).path
    from sklearn.datasets import load_breast_cancer as sk_load

    bunch = sk_load()
    x = bunch.data.astype(np.float32)
    y = bunch.target.astype(np.int64)
    tr, te = fixed_split(y, test_fraction)
    return Dataset("breast-cancer", classes=list(bunch.target_names), feature_names=list(bunch.feature_names),
                   source=str(src), variant="default",
                   train=subset(Split(x[tr], y[tr]), n_train, seed),
                   test=subset(Split(x[te], y[te]), n_test, seed))


def generate_mnist1d() -> dict[str, np.ndarray]:
    import random

    from mnist1d.data import get_dataset_args, make_dataset

    # mnist1d reseeds the global RNGs: keep the student's random state untouched.
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        d = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {"x_train": d["x"].astype(np.float32), "y_train": d["y"].astype(np.int64),
            "x_test": d["x_test"].astype(np.float32), "y_test": d["y_test"].astype(np.int64),
            "t": np.asarray(d["t"], np.float32)}


def mnist1d_fingerprint(arrays: dict[str, np.ndarray]) -> str:
    """Hash of the generated arrays, rounded so that last-bit float noise does not matter."""
    h = hashlib.sha256()
    for k in ("x_train", "y_train", "x_test", "y_test"):
        h.update(np.round(arrays[k].astype(np.float64), 4).astype(np.float32).tobytes())
    return h.hexdigest()


def load_mnist1d(*, n_train: int | None = None, n_test: int | None = None, seed: int = 0) -> Dataset:
    """MNIST-1D: x float32 (N, 40), y int64; 4,000 / 1,000, generated offline by the mnist1d package."""
    entry = get_entry("mnist1d")
    v = Variant("generated", ())
    key = cache_key(entry, v, "mnist1d")
    arrays = load_npz(key)
    src = "parsed cache"
    if arrays is None:
        arrays = generate_mnist1d()
        save_npz(key, arrays)
        src = "generated by the mnist1d package"
    ds = _image_dataset("mnist1d", MNIST_CLASSES, arrays, v, src, n_train, n_test, seed)
    ds.info["t"] = arrays["t"]
    return ds


def load_shapes(*, n_train: int = 2000, n_test: int = 500, size: int = 32, seed: int = 0,
                max_shapes: int = 3) -> Dataset:
    """Procedural shapes with captions: x uint8 (N, size, size, 3), y = captions (str);
    ``split.extra`` holds the structured attributes (shape/colour/size ids, centres, per-shape dicts)."""
    def split(n, name):
        d = _shapes.generate(n, size=size, seed=seed, split=name, max_shapes=max_shapes)
        return Split(d.images, d.captions, {
            "n_shapes": d.n_shapes, "shape_ids": d.shape_ids, "colour_ids": d.colour_ids,
            "size_ids": d.size_ids, "centres": d.centres, "attributes": d.attributes})

    return Dataset("shapes", train=split(n_train, "train"), test=split(n_test, "test"),
                   source="generated by course.data.shapes", variant="generated",
                   info={"shapes": list(_shapes.SHAPES), "colours": list(_shapes.COLOUR_NAMES),
                         "sizes": list(_shapes.SIZE_NAMES), "vocabulary": _shapes.vocabulary()})


