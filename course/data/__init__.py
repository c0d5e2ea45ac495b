"""Data sets for the course: registry, offline-first fetching, loaders and framework adapters.

    import course.data as cd
    (x_train, y_train), (x_test, y_test) = cd.load_fashion_mnist(n_train=6000)
    loader = cd.to_torch(cd.load_mnist().train, batch_size=64, shuffle=True)

Files are looked for in $COURSE_DATA_MIRROR (and /usr/share/datasets), then in the
cache ($COURSE_DATA_CACHE, default ~/.cache/dl-course/data), and downloaded only then.
Importing this package imports neither torch nor TensorFlow.
"""
from course.data.adapters import to_tf, to_torch
from course.data.errors import (
    CacheNotWritableError, CorruptFileError, DataError, DataUnavailableError, HashMismatchError,
    IntegrityError, LossyDataWarning, UnknownDatasetError,
)
from course.data.files import cache_dir, fetch, fetch_file, mirror_dirs, read_file
from course.data.loaders import (
    Dataset, Split, TextCorpus, imagenet_class_table, imagenet_classes, load, load_adult,
    load_breast_cancer, load_cifar10, load_compas, load_digits, load_fashion_mnist, load_mnist,
    load_mnist1d, load_shapes, load_sms_spam, load_sst2, load_table, load_tinyshakespeare,
    stratified_indices,
)
from course.data.registry import load_registry
from course.data.verification import verify

__all__ = [
    "load", "load_mnist", "load_fashion_mnist", "load_cifar10", "load_digits", "load_breast_cancer",
    "load_mnist1d", "load_shapes", "load_sst2", "load_sms_spam", "load_tinyshakespeare", "load_adult",
    "load_compas", "load_table", "imagenet_classes", "imagenet_class_table", "stratified_indices",
    "Dataset", "Split", "TextCorpus", "to_torch", "to_tf",
    "fetch", "fetch_file", "read_file", "verify", "load_registry", "mirror_dirs", "cache_dir",
    "DataError", "UnknownDatasetError", "DataUnavailableError", "IntegrityError", "HashMismatchError",
    "CorruptFileError", "CacheNotWritableError", "LossyDataWarning",
]
