"""Adapters from loader output to ``torch.utils.data`` and ``tf.data``.

torch and TensorFlow are imported inside the functions only, so that
``import course.data`` stays fast and works with either framework missing.
Images stay uint8 in memory and are converted per example (torch) or per batch
(tf.data): a float32 copy of CIFAR-10 would be 600 MiB.
"""
from __future__ import annotations

import numpy as np

from course.frameworks import quiet_tensorflow


def _xy(data):
    """Accept a Split, a Dataset split name-less tuple (x, y), or a bare x array."""
    if hasattr(data, "x") and hasattr(data, "y"):
        return data.x, data.y
    if isinstance(data, tuple) and len(data) == 2:
        return data
    return data, None


def _is_image(x) -> bool:
    return isinstance(x, np.ndarray) and x.dtype == np.uint8 and x.ndim in (3, 4)


def _is_text(a) -> bool:
    return isinstance(a, np.ndarray) and (a.dtype == object or a.dtype.kind in "US")


def to_torch(data, *, batch_size: int | None = None, shuffle: bool = False, seed: int = 0,
             scale_images: bool = True, **loader_kwargs):
    """A ``torch.utils.data.Dataset`` over a Split or (x, y); with ``batch_size``, a ``DataLoader``.

    uint8 images become float32 tensors in [0, 1], channels first ((1, H, W) for grey
    images); integer labels become int64 scalars; strings stay strings.
    ``shuffle`` uses a generator seeded with ``seed``, so the batch order is reproducible.
    """
    import torch
    from torch.utils.data import DataLoader
    from torch.utils.data import Dataset as TorchDataset

    x, y = _xy(data)
    image = scale_images and _is_image(x)

    def convert_x(item):
        if image:
            t = torch.from_numpy(np.ascontiguousarray(item)).to(torch.float32).div_(255.0)
            return t.unsqueeze(0) if t.ndim == 2 else t.permute(2, 0, 1).contiguous()
        if isinstance(item, np.ndarray):
            return torch.from_numpy(np.ascontiguousarray(item))
        if isinstance(item, np.generic):
            return torch.as_tensor(item.item())
        return item  # str

    def convert_y(item):
        if isinstance(item, np.generic) and item.dtype.kind in "iu":
            return torch.tensor(int(item), dtype=torch.int64)
        return convert_x(item) if not isinstance(item, str) else item

    class ArrayDataset(TorchDataset):
        def __len__(self):
            return len(x)

        def __getitem__(self, i):
            xi = convert_x(x[i])
            return xi if y is None else (xi, convert_y(y[i]))

    ds = ArrayDataset()
    if batch_size is None:
        return ds
    gen = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=gen, **loader_kwargs)


def to_tf(data, *, batch_size: int | None = None, shuffle: bool = False, seed: int = 0,
          scale_images: bool = True, prefetch: bool = True):
    """A ``tf.data.Dataset`` of (x, y) over a Split or (x, y), optionally shuffled and batched.

    uint8 images become float32 in [0, 1], channels last ((H, W, 1) for grey images);
    string arrays become tf.string.
    """
    quiet_tensorflow()
    import tensorflow as tf

    x, y = _xy(data)
    image = scale_images and _is_image(x)

    def as_tensor_input(a):
        return [str(s) for s in a] if _is_text(a) else a

    ds = tf.data.Dataset.from_tensor_slices(as_tensor_input(x) if y is None
                                            else (as_tensor_input(x), as_tensor_input(y)))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    if batch_size:
        ds = ds.batch(batch_size)
    if image:
        grey = x.ndim == 3

        def convert(xb, *rest):
            xb = tf.cast(xb, tf.float32) / 255.0
            if grey:
                xb = xb[..., tf.newaxis]
            return (xb, *rest) if rest else xb

        ds = ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    return ds
