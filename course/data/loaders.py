"""Loaders: registry files -> numpy arrays, every data set by its loader or by name.

Each loader returns a :class:`Dataset` whose splits unpack like Keras' loaders::

    (x_train, y_train), (x_test, y_test) = course.data.load_mnist()

The loaders live by kind (course/data/images.py, texts.py, tables.py; containers and the
parsed-array cache in datasets.py); this module gathers them.
"""
from __future__ import annotations

from typing import Any, Callable

from course.data.datasets import (  # noqa: F401 - the loaders' API, gathered here
    PARSE_VERSION, SPLIT_SEED, Dataset, Split, TextCorpus, read_text, stratified_indices,
)
from course.data.errors import CorruptFileError, DataError
from course.data.images import (  # noqa: F401
    FASHION_CLASSES, MNIST_CLASSES, generate_mnist1d, load_breast_cancer, load_cifar10, load_digits,
    load_fashion_mnist, load_mnist, load_mnist1d, load_shapes, mnist1d_fingerprint,
)
from course.data.tables import (  # noqa: F401
    load_adult, load_compas, load_table,
)
from course.data.registry import get_entry, load_registry
from course.data.texts import load_sms_spam, load_sst2, load_tinyshakespeare  # noqa: F401


# --------------------------------------------------------------------------- support files

def imagenet_classes() -> list[str]:
    """The 1,000 ImageNet-1k class names in index order ('tench, Tinca tinca', ...)."""
    return [row[2] for row in imagenet_class_table()]


def imagenet_class_table() -> list[tuple[int, str, str]]:
    """(index, WordNet id, names) for the 1,000 ImageNet-1k classes."""
    rows = []
    for line in read_text(get_entry("imagenet-classes").files[0]).splitlines():
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
