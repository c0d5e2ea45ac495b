"""What loaders return (:class:`Dataset`, :class:`Split`, :class:`TextCorpus`), subsets,
the fixed train/test split of sets that ship without one, and the cache of parsed arrays
(.npz in the user cache, keyed by the registry's hashes: the second load skips decoding)."""
from __future__ import annotations

import hashlib
import os
import pickle
import tarfile
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from course.data.errors import CorruptFileError
from course.data.files import cache_dir, read_file, resolve
from course.data.registry import Entry, Variant

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


def subset(split: Split, n: int | None, seed: int, stratify=None) -> Split:
    if n is None or n >= len(split):
        return split
    return split.take(stratified_indices(split.y if stratify is None else stratify, n, seed))


def fixed_split(y, test_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """The canonical stratified train/test split for sets that come without one."""
    test = stratified_indices(y, int(round(len(y) * test_fraction)), SPLIT_SEED)
    mask = np.ones(len(y), bool)
    mask[test] = False
    return np.flatnonzero(mask), test


# --------------------------------------------------------------------------- parsed-array cache

_warned_cache = False


def cache_key(entry: Entry, variant: Variant, extra: str = "") -> str:
    h = hashlib.sha256(f"{PARSE_VERSION}|{extra}|".encode())
    for f in variant.files:
        h.update(f.sha256.encode())
    h.update(str(entry.reference).encode())
    return f"{entry.name}-{variant.name}-{h.hexdigest()[:16]}"


def npz_path(key: str):
    return cache_dir() / "parsed" / f"{key}.npz"


def load_npz(key: str) -> dict[str, np.ndarray] | None:
    path = npz_path(key)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        path.unlink(missing_ok=True)  # our own cache file: rebuilt below
        return None


def save_npz(key: str, arrays: dict[str, np.ndarray]) -> None:
    global _warned_cache
    path = npz_path(key)
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


def parsed_arrays(entry: Entry, parse: Callable[[Variant, dict[str, bytes]], dict[str, np.ndarray]],
            variant: str | None = None) -> tuple[dict[str, np.ndarray], Variant, str]:
    """Arrays parsed from ``entry``'s files, from the .npz cache when possible."""
    candidates = [entry.variant(variant)] if variant else list(entry.variants)
    for v in candidates:  # warm path: no file is opened but the cache
        arrays = load_npz(cache_key(entry, v))
        if arrays is not None:
            return arrays, v, f"parsed cache {npz_path(cache_key(entry, v))}"
    v, located = resolve(entry, variant=variant, keep=True)
    try:
        arrays = parse(v, {p: loc.content for p, loc in located.items()})
    except (ValueError, KeyError, EOFError, OSError, tarfile.TarError, pickle.UnpicklingError) as e:
        raise CorruptFileError(f"{entry.name}: the files verified but could not be parsed ({e}). "
                               f"Please report this: the registry may be wrong.") from e
    save_npz(cache_key(entry, v), arrays)
    where = sorted({f"{loc.where}: {loc.path.parent}" for loc in located.values()})
    return arrays, v, "; ".join(where)


def read_text(spec) -> str:
    """A registry file's text (UTF-8)."""
    return read_file(spec).decode("utf-8")
