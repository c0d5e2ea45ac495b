"""Loaders: registry files -> numpy arrays.

Each loader returns a :class:`Dataset` whose splits unpack like Keras' loaders::

    (x_train, y_train), (x_test, y_test) = course.data.load_mnist()

Parsed arrays are cached as .npz in the user cache (keyed by the registry's
hashes), so the second load skips decompression and decoding.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import pickle
import tarfile
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from course.data import shapes as _shapes
from course.data.errors import CorruptFileError, DataError, LossyDataWarning
from course.data.files import cache_dir, locate, read_file, resolve
from course.data.registry import Entry, Variant, get_entry, load_registry

PARSE_VERSION = 1  # bump when a parser changes, to invalidate cached arrays
SPLIT_SEED = 0  # the canonical train/test split of sets that ship without one never changes


# --------------------------------------------------------------------------- containers

@dataclass
class Split:
    """One split: inputs ``x``, targets ``y`` and per-example ``extra`` arrays (e.g. sensitive attributes)."""

    x: Any
    y: Any
    extra: dict = field(default_factory=dict)

    def __iter__(self):  # x, y = ds.train
        return iter((self.x, self.y))

    def __len__(self) -> int:
        return len(self.x)

    def take(self, idx: np.ndarray) -> "Split":
        return Split(self.x[idx], self.y[idx], {k: _index(v, idx) for k, v in self.extra.items()})


def _index(v, idx):
    if isinstance(v, np.ndarray):
        return v[idx]
    if isinstance(v, list):
        return [v[i] for i in idx]
    return v


@dataclass
class Dataset:
    """Splits plus what a student needs to read them (class names, provenance, lossy flag)."""

    name: str
    train: Split
    test: Split
    val: Split | None = None
    classes: list[str] | None = None
    feature_names: list[str] | None = None
    lossy: bool = False
    variant: str = ""
    source: str = ""  # where the raw data came from
    info: dict = field(default_factory=dict)

    def __iter__(self):  # (x_train, y_train), (x_test, y_test) = ds
        return iter((self.train, self.test))

    x_train = property(lambda self: self.train.x)
    y_train = property(lambda self: self.train.y)
    x_test = property(lambda self: self.test.x)
    y_test = property(lambda self: self.test.y)

    def splits(self) -> dict[str, Split]:
        out = {"train": self.train}
        if self.val is not None:
            out["val"] = self.val
        out["test"] = self.test
        return out

    def nbytes(self) -> int:
        """Approximate memory held by the arrays (strings counted by their UTF-8 length)."""
        return sum(_nbytes(a) for s in self.splits().values() for a in (s.x, s.y, *s.extra.values()))

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={len(s)}" for k, s in self.splits().items())
        x = self.train.x
        extra = f", x{tuple(x.shape[1:])} {x.dtype}" if getattr(x, "ndim", 0) > 1 else ""
        lossy = ", LOSSY" if self.lossy else ""
        return f"<Dataset {self.name}: {parts}{extra}{lossy}>"


def _nbytes(a) -> int:
    if isinstance(a, np.ndarray):
        if a.dtype == object:
            return a.nbytes + sum(len(str(s).encode()) + 49 for s in a.ravel())
        return a.nbytes
    if isinstance(a, list):
        return sum(_nbytes(x) if isinstance(x, np.ndarray) else 100 for x in a)
    return 0


@dataclass
class TextCorpus:
    """A character-level corpus: the text, its vocabulary and the encoded train/val ids."""

    name: str
    text: str
    vocab: list[str]
    train_ids: np.ndarray
    val_ids: np.ndarray
    source: str = ""

    def __post_init__(self):
        self.stoi = {c: i for i, c in enumerate(self.vocab)}

    def encode(self, s: str) -> np.ndarray:
        try:
            return np.fromiter((self.stoi[c] for c in s), dtype=np.int64, count=len(s))
        except KeyError as e:
            raise ValueError(f"character {e.args[0]!r} is not in the vocabulary of {self.name}") from None

    def decode(self, ids) -> str:
        return "".join(self.vocab[int(i)] for i in ids)

    def nbytes(self) -> int:
        return len(self.text.encode()) + self.train_ids.nbytes + self.val_ids.nbytes

    def __repr__(self) -> str:
        return f"<TextCorpus {self.name}: {len(self.text):,} characters, vocabulary {len(self.vocab)}>"


# --------------------------------------------------------------------------- subsets

def stratified_indices(y, n: int | None, seed: int = 0) -> np.ndarray:
    """Sorted indices of a class-stratified subset of size ``n`` (all of them if n is None or too big).

    Each class gets its share rounded by largest remainder, so a subset of 6,000 from
    Fashion-MNIST has exactly 600 per class; the draw depends only on ``seed``.
    """
    y = np.asarray(y)
    total = len(y)
    if n is None or n >= total:
        return np.arange(total)
    if n <= 0:
        raise ValueError(f"a subset needs at least one example, got n={n}")
    classes, inverse = np.unique(y, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(classes))
    quota = counts * (n / total)
    take = np.floor(quota).astype(int)
    leftover = n - take.sum()
    order = np.lexsort((np.arange(len(classes)), -(quota - take)))  # biggest remainders first, ties by class
    take[order[:leftover]] += 1
    rng = np.random.default_rng(seed)
    picks = [rng.permutation(np.flatnonzero(inverse == c))[:k] for c, k in enumerate(take)]
    return np.sort(np.concatenate(picks))


def _subset(split: Split, n: int | None, seed: int, stratify=None) -> Split:
    if n is None or n >= len(split):
        return split
    return split.take(stratified_indices(split.y if stratify is None else stratify, n, seed))


def _fixed_split(y, test_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """The canonical stratified train/test split for sets that come without one."""
    test = stratified_indices(y, int(round(len(y) * test_fraction)), SPLIT_SEED)
    mask = np.ones(len(y), bool)
    mask[test] = False
    return np.flatnonzero(mask), test


# --------------------------------------------------------------------------- parsed-array cache

_warned_cache = False


def _cache_key(entry: Entry, variant: Variant, extra: str = "") -> str:
    h = hashlib.sha256(f"{PARSE_VERSION}|{extra}|".encode())
    for f in variant.files:
        h.update(f.sha256.encode())
    h.update(str(entry.reference).encode())
    return f"{entry.name}-{variant.name}-{h.hexdigest()[:16]}"


def _npz_path(key: str):
    return cache_dir() / "parsed" / f"{key}.npz"


def _load_npz(key: str) -> dict[str, np.ndarray] | None:
    path = _npz_path(key)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        path.unlink(missing_ok=True)  # our own cache file: rebuilt below
        return None


def _save_npz(key: str, arrays: dict[str, np.ndarray]) -> None:
    global _warned_cache
    path = _npz_path(key)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{key}.", suffix=".part")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)  # readers never see a half-written cache file
        tmp = None
    except OSError as e:
        if not _warned_cache:
            warnings.warn(f"Could not cache parsed arrays in {path.parent} ({e.strerror or e}); "
                          f"loading will work but stay slow. Set COURSE_DATA_CACHE to a writable folder.",
                          stacklevel=3)
            _warned_cache = True
    finally:
        if tmp:
            os.unlink(tmp)


def _parsed(entry: Entry, parse: Callable[[Variant, dict[str, bytes]], dict[str, np.ndarray]],
            variant: str | None = None) -> tuple[dict[str, np.ndarray], Variant, str]:
    """Arrays parsed from ``entry``'s files, from the .npz cache when possible."""
    candidates = [entry.variant(variant)] if variant else list(entry.variants)
    for v in candidates:  # warm path: no file is opened but the cache
        arrays = _load_npz(_cache_key(entry, v))
        if arrays is not None:
            return arrays, v, f"parsed cache {_npz_path(_cache_key(entry, v))}"
    v, located = resolve(entry, variant=variant, keep=True)
    try:
        arrays = parse(v, {p: loc.content for p, loc in located.items()})
    except (ValueError, KeyError, EOFError, OSError, tarfile.TarError, pickle.UnpicklingError) as e:
        raise CorruptFileError(f"{entry.name}: the files verified but could not be parsed ({e}). "
                               f"Please report this: the registry may be wrong.") from e
    _save_npz(_cache_key(entry, v), arrays)
    where = sorted({f"{loc.where}: {loc.path.parent}" for loc in located.values()})
    return arrays, v, "; ".join(where)


# --------------------------------------------------------------------------- images

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
        train=_subset(Split(arrays["x_train"], arrays["y_train"]), n_train, seed),
        test=_subset(Split(arrays["x_test"], arrays["y_test"]), n_test, seed),
    )


def load_mnist(*, n_train: int | None = None, n_test: int | None = None, seed: int = 0) -> Dataset:
    """MNIST digits: x uint8 (N, 28, 28), y int64 in 0..9; 60,000 / 10,000 (or stratified subsets)."""
    entry = get_entry("mnist")
    arrays, v, src = _parsed(entry, _parse_idx_set)
    return _image_dataset("mnist", MNIST_CLASSES, arrays, v, src, n_train, n_test, seed)


def load_fashion_mnist(*, n_train: int | None = None, n_test: int | None = None, seed: int = 0) -> Dataset:
    """Fashion-MNIST: x uint8 (N, 28, 28), y int64 in 0..9; 60,000 / 10,000 (or stratified subsets)."""
    entry = get_entry("fashion-mnist")
    arrays, v, src = _parsed(entry, _parse_idx_set)
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
    arrays, v, src = _parsed(entry, _parse_cifar, variant)
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
    tr, te = _fixed_split(y, test_fraction)
    return Dataset("digits", classes=MNIST_CLASSES, source=str(src), variant="default",
                   train=_subset(Split(x[tr], y[tr]), n_train, seed),
                   test=_subset(Split(x[te], y[te]), n_test, seed))


def load_breast_cancer(*, n_train: int | None = None, n_test: int | None = None, seed: int = 0,
                       test_fraction: float = 0.2) -> Dataset:
    """scikit-learn's breast cancer: x float32 (N, 30), y int64 (0 malignant, 1 benign); fixed split."""
    entry = get_entry("breast-cancer")
    src = locate(entry.files[0], download=False).path
    from sklearn.datasets import load_breast_cancer as sk_load

    bunch = sk_load()
    x = bunch.data.astype(np.float32)
    y = bunch.target.astype(np.int64)
    tr, te = _fixed_split(y, test_fraction)
    return Dataset("breast-cancer", classes=list(bunch.target_names), feature_names=list(bunch.feature_names),
                   source=str(src), variant="default",
                   train=_subset(Split(x[tr], y[tr]), n_train, seed),
                   test=_subset(Split(x[te], y[te]), n_test, seed))


def _generate_mnist1d() -> dict[str, np.ndarray]:
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
    key = _cache_key(entry, v, "mnist1d")
    arrays = _load_npz(key)
    src = "parsed cache"
    if arrays is None:
        arrays = _generate_mnist1d()
        _save_npz(key, arrays)
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


# --------------------------------------------------------------------------- text

def _read_text(spec) -> str:
    return read_file(spec).decode("utf-8")


def _tsv_pairs(text: str, label_first: bool):
    rows = [line for line in text.splitlines() if line.strip()]
    out = []
    for line in rows:
        a, sep, b = line.partition("\t") if label_first else line.rpartition("\t")
        if not sep:
            raise CorruptFileError(f"line without a tab: {line[:60]!r}")
        out.append((a, b))
    return out


def _text_split(texts, labels) -> Split:
    return Split(np.array(texts, dtype=object), np.array(labels, dtype=np.int64))


def load_sst2(*, n_train: int | None = None, n_test: int | None = None, seed: int = 0) -> Dataset:
    """SST-2 sentences (x: str array), y int64 (0 negative, 1 positive); train 6,920 / val 872 / test 1,821."""
    entry = get_entry("sst2")
    splits = {}
    for spec in entry.files:
        pairs = _tsv_pairs(_read_text(spec), label_first=False)
        splits[spec.name.split(".")[0]] = _text_split([p[0] for p in pairs], [int(p[1]) for p in pairs])
    return Dataset("sst2", classes=["negative", "positive"], variant="default",
                   source=str(locate(entry.files[0], download=False).path.parent),
                   train=_subset(splits["train"], n_train, seed), val=splits["dev"],
                   test=_subset(splits["test"], n_test, seed))


def load_sms_spam(*, n_train: int | None = None, n_test: int | None = None, seed: int = 0,
                  test_fraction: float = 0.2) -> Dataset:
    """SMS Spam Collection: x str messages, y int64 (1 spam, 0 ham); fixed stratified 80/20 split."""
    entry = get_entry("sms-spam")
    pairs = _tsv_pairs(_read_text(entry.files[0]), label_first=True)
    labels = np.array([{"ham": 0, "spam": 1}[p[0]] for p in pairs], np.int64)
    texts = np.array([p[1] for p in pairs], dtype=object)
    tr, te = _fixed_split(labels, test_fraction)
    return Dataset("sms-spam", classes=["ham", "spam"], variant="default",
                   source=str(locate(entry.files[0], download=False).path),
                   train=_subset(Split(texts[tr], labels[tr]), n_train, seed),
                   test=_subset(Split(texts[te], labels[te]), n_test, seed))


def load_tinyshakespeare(*, val_fraction: float = 0.1) -> TextCorpus:
    """Tiny Shakespeare as characters: text, sorted vocabulary (65), and int ids split 90/10 (in order)."""
    entry = get_entry("tinyshakespeare")
    loc = locate(entry.files[0], keep=True)
    text = loc.content.decode("utf-8")
    vocab = sorted(set(text))
    lut = np.zeros(max(map(ord, vocab)) + 1, np.int64)
    lut[[ord(c) for c in vocab]] = np.arange(len(vocab))
    codes = np.frombuffer(text.encode("utf-32-le"), np.uint32)
    ids = lut[codes]
    cut = int(len(ids) * (1 - val_fraction))
    return TextCorpus("tinyshakespeare", text, vocab, ids[:cut], ids[cut:], source=str(loc.path))


# --------------------------------------------------------------------------- tables

def load_table(name: str) -> dict[str, np.ndarray]:
    """A CSV data set as raw columns {name: array}: numbers as float64, everything else as str.

    ``pandas.DataFrame(load_table("adult"))`` gives a DataFrame where pandas is installed.
    """
    entry = get_entry(name)
    specs = [f for f in entry.files if f.path.endswith(".csv")]
    if len(specs) != 1:
        raise DataError(f"{entry.name} is not a single-CSV table")
    rows = list(csv.reader(io.StringIO(_read_text(specs[0]))))
    header, body = rows[0], [r for r in rows[1:] if r]
    cols: dict[str, np.ndarray] = {}
    for j, col in enumerate(header):
        if not col or col in cols:  # COMPAS repeats 'decile_score' and ends with an empty column
            col = f"{col or 'column'}_{j}"
        values = [r[j] if j < len(r) else "" for r in body]
        try:
            cols[col] = np.array([float(v) if v != "" else np.nan for v in values])
        except ValueError:
            cols[col] = np.array(values, dtype=object)
    return cols


def _design_matrix(table, numeric: list[str], categorical: list[str]):
    """Numbers as they are plus one-hot categories (sorted), as float32, with column names."""
    blocks, names = [], []
    for c in numeric:
        blocks.append(np.asarray(table[c], np.float32)[:, None])
        names.append(c)
    for c in categorical:
        values = np.asarray(table[c]).astype(str)
        cats = sorted(set(values))
        blocks.append((values[:, None] == np.array(cats)[None, :]).astype(np.float32))
        names += [f"{c}={v}" for v in cats]
    return np.concatenate(blocks, axis=1), names


def _tabular(name, x, y, groups, names, classes, n_train, n_test, seed, test_fraction, src, info=None):
    tr, te = _fixed_split(y, test_fraction)
    mk = lambda idx: Split(x[idx], y[idx], {k: v[idx] for k, v in groups.items()})
    return Dataset(name, classes=classes, feature_names=names, source=src, variant="default",
                   train=_subset(mk(tr), n_train, seed), test=_subset(mk(te), n_test, seed), info=info or {})


ADULT_NUMERIC = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
ADULT_CATEGORICAL = ["workclass", "education", "marital-status", "occupation", "relationship",
                     "race", "sex", "native-country"]


def load_adult(*, n_train: int | None = None, n_test: int | None = None, seed: int = 0,
               test_fraction: float = 0.25) -> Dataset:
    """UCI Adult: x float32 (numbers + one-hot categories, names in ``feature_names``), y int64 (1 = >50K);
    ``split.extra['sex']`` / ``['race']`` keep the sensitive attributes as strings. Fixed stratified split."""
    t = load_table("adult")
    y = (t["income-per-year"] == ">50K").astype(np.int64)
    x, names = _design_matrix(t, ADULT_NUMERIC, ADULT_CATEGORICAL)
    groups = {"sex": t["sex"], "race": t["race"]}
    return _tabular("adult", x, y, groups, names, ["<=50K", ">50K"], n_train, n_test, seed, test_fraction,
                    "registry: adult/adult.csv")


COMPAS_NUMERIC = ["age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count"]
COMPAS_CATEGORICAL = ["sex", "race", "c_charge_degree"]


def load_compas(*, n_train: int | None = None, n_test: int | None = None, seed: int = 0,
                test_fraction: float = 0.25) -> Dataset:
    """ProPublica COMPAS with ProPublica's row filters (6,172 rows): x float32 features, y = two_year_recid;
    ``split.extra`` has sex, race, and COMPAS's own decile_score / score_text to compare against."""
    t = load_table("compas")
    d = t["days_b_screening_arrest"]
    keep = (np.abs(np.nan_to_num(d, nan=999)) <= 30) & (t["is_recid"] != -1) & \
           (t["c_charge_degree"] != "O") & (t["score_text"] != "N/A")
    t = {k: v[keep] for k, v in t.items()}
    x, names = _design_matrix(t, COMPAS_NUMERIC, COMPAS_CATEGORICAL)
    y = t["two_year_recid"].astype(np.int64)
    groups = {"sex": t["sex"], "race": t["race"], "decile_score": t["decile_score"].astype(np.int64),
              "score_text": t["score_text"]}
    return _tabular("compas", x, y, groups, names, ["no recidivism", "recidivism"], n_train, n_test, seed,
                    test_fraction, "registry: compas/compas-scores-two-years.csv")


# --------------------------------------------------------------------------- support files

def imagenet_classes() -> list[str]:
    """The 1,000 ImageNet-1k class names in index order ('tench, Tinca tinca', ...)."""
    return [row[2] for row in imagenet_class_table()]


def imagenet_class_table() -> list[tuple[int, str, str]]:
    """(index, WordNet id, names) for the 1,000 ImageNet-1k classes."""
    rows = []
    for line in _read_text(get_entry("imagenet-classes").files[0]).splitlines():
        if line.strip():
            i, wnid, names = line.split("\t")
            rows.append((int(i), wnid, names))
    if [r[0] for r in rows] != list(range(1000)):
        raise CorruptFileError("imagenet1k_classes.tsv does not list classes 0..999 in order")
    return rows


# --------------------------------------------------------------------------- by name

LOADERS: dict[str, Callable[..., Any]] = {
    "mnist": load_mnist, "fashion-mnist": load_fashion_mnist, "cifar10": load_cifar10,
    "digits": load_digits, "breast-cancer": load_breast_cancer, "mnist1d": load_mnist1d,
    "shapes": load_shapes, "sst2": load_sst2, "sms-spam": load_sms_spam,
    "tinyshakespeare": load_tinyshakespeare, "adult": load_adult, "compas": load_compas,
}


def load(name: str, **kwargs):
    """Load a data set by registry name, e.g. ``load("fashion-mnist", n_train=1000)``."""
    entry = load_registry().get(name)  # unknown names get a 'did you mean' error
    if entry.name not in LOADERS:
        raise DataError(f"{entry.name!r} is a {entry.section[:-1]}, not a data set with a loader "
                        f"(see {entry.loader or 'course.zoo'}).")
    return LOADERS[entry.name](**kwargs)
