"""Read a PyTorch ``.pth`` state dict into numpy arrays without importing torch.

The Keras route must work where only TensorFlow is installed. Both of torch's
formats are handled: the legacy one (a sequence of pickles followed by raw
storages, as in efficientnet-lite0-57934424.pth) and the zip one (torch >= 1.6).
The unpickler accepts only the few globals a state dict needs, so a hostile file
cannot run code.
"""
from __future__ import annotations

import collections
import io
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


@dataclass(frozen=True)
class _StorageType:
    name: str


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: np.dtype
    numel: int


@dataclass(frozen=True)
class _Tensor:
    """A tensor whose storage bytes may not have been read yet (legacy files store them last)."""

    storage: _StorageRef
    offset: int
    size: tuple
    stride: tuple

    def materialise(self, storages: dict[str, np.ndarray]) -> np.ndarray:
        flat = storages[self.storage.key]
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset:], shape=self.size, strides=tuple(s * flat.itemsize for s in self.stride))
        return np.array(view)  # a copy that owns its memory


def _rebuild_tensor(storage, offset, size, stride, *_ignored):
    return _Tensor(storage, int(offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, *_ignored):
    return data


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weights file")

    def persistent_load(self, pid):
        # ('storage', storage_type, key, location, numel[, view_metadata])
        _, storage_type, key, _location, numel = pid[:5]
        return _StorageRef(str(key), np.dtype(_DTYPES[storage_type.name]), int(numel))


def _refs(state) -> dict[str, _StorageRef]:
    return {t.storage.key: t.storage for t in state.values() if isinstance(t, _Tensor)}


def _load_zip(path: Path):
    with zipfile.ZipFile(path) as z:
        (pkl,) = [n for n in z.namelist() if n.endswith("data.pkl")]
        prefix = pkl[: -len("data.pkl")]
        state = _Unpickler(io.BytesIO(z.read(pkl))).load()
        storages = {k: np.frombuffer(z.read(f"{prefix}data/{k}"), dtype=r.dtype, count=r.numel)
                    for k, r in _refs(state).items()}
    return state, storages


def _load_legacy(path: Path):
    with open(path, "rb") as fh:
        if pickle.load(fh) != _LEGACY_MAGIC:
            raise ValueError(f"{path} is not a PyTorch weights file")
        pickle.load(fh)  # protocol version
        pickle.load(fh)  # system info
        state = _Unpickler(fh).load()
        refs = _refs(state)
        storages = {}
        for key in pickle.load(fh):  # then, per storage: 8-byte element count and the raw bytes
            ref = refs[key]
            numel = int.from_bytes(fh.read(8), "little")
            storages[key] = np.frombuffer(fh.read(numel * ref.dtype.itemsize), dtype=ref.dtype, count=numel)
    return state, storages


def load_state_dict(path) -> dict[str, np.ndarray]:
    """``{name: numpy array}`` from a .pth state dict, in either of torch's formats."""
    path = Path(path)
    state, storages = _load_zip(path) if zipfile.is_zipfile(path) else _load_legacy(path)
    return {k: v.materialise(storages) if isinstance(v, _Tensor) else np.asarray(v) for k, v in state.items()}
