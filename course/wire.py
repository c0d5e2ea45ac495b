"""Values as plain data between a student's kernel and the trusted checker.

Tests call a student's functions across a process boundary (see course/checker/runner.py), and
only *data* crosses it: None, bool, int, float, complex, str, bytes, list, tuple, dict,
range, NumPy arrays and scalars (bool and numeric dtypes), PyTorch and TensorFlow tensors
(their values, dtype, ``requires_grad`` and leaf ``.grad``), and opaque references to
objects that stay where they are. There is no pickle: decoding never runs code, and
sizes and nesting are bounded, so a hostile kernel can only hand over values.

Arrays, tensors and variables may carry a mirror id (``track``/``mirror`` hooks): the
two sides then keep one object each for the same value, so in-place changes and kept
references survive the boundary (course/inkernel/agent.py, course/checker/runner.py).

Format: ``MAGIC``, 8-byte length, JSON header, then the raw array bytes it indexes.
"""
from __future__ import annotations

import json
import math
import sys

MAGIC = b"COURSEWIRE1\n"
MAX_DEPTH = 40
MAX_ITEMS = 200_000
_ARRAY_KINDS = set("biufcUS")  # numbers, bools and fixed-width strings: never objects


class WireError(ValueError):
    """A value cannot be sent, or what arrived is not a valid message."""


def _np():
    import numpy
    return numpy


class _Encoder:
    def __init__(self, ref, max_bytes, track=None):
        self.ref = ref
        self.track = track      # obj -> id for mutable values mirrored across the boundary
        self.max_bytes = max_bytes
        self.blobs: list[bytes] = []
        self.size = 0
        self.items = 0

    def array(self, arr) -> dict:
        np = _np()
        arr = np.asarray(arr)
        arr = arr if arr.flags.c_contiguous else arr.copy(order="C")  # ascontiguousarray makes 0-d 1-d
        if arr.dtype.kind not in _ARRAY_KINDS or arr.dtype.hasobject:
            raise WireError(f"arrays of dtype {arr.dtype} cannot be sent (numbers, bools and strings only)")
        data = arr.tobytes()
        self.size += len(data)
        if self.size > self.max_bytes:
            raise WireError(f"value larger than {self.max_bytes // 2**20} MiB")
        self.blobs.append(data)
        return {"dtype": arr.dtype.str, "shape": list(arr.shape), "n": len(data)}

    def enc(self, v, depth=0):
        self.items += 1
        if depth > MAX_DEPTH or self.items > MAX_ITEMS:
            raise WireError("value too deeply nested or with too many items")
        t = type(v)
        if v is None or t in (bool, str):
            return v
        if t is int:
            return v if abs(v) < 2**53 else {"t": "int", "v": str(v)}
        if t is float:
            return v if math.isfinite(v) else {"t": "float", "v": repr(v)}
        if t is complex:
            return {"t": "complex", "v": [repr(v.real), repr(v.imag)]}
        if t is bytes:
            return {"t": "bytes", "a": self.array(_np().frombuffer(v, dtype="u1"))}
        if t in (list, tuple):
            return {"t": t.__name__, "v": [self.enc(x, depth + 1) for x in v]}
        if t is dict:
            return {"t": "dict", "v": [[self.enc(k, depth + 1), self.enc(x, depth + 1)]
                                       for k, x in v.items()]}
        if t is range:
            return {"t": "range", "v": [v.start, v.stop, v.step]}
        np = sys.modules.get("numpy")
        if np is not None:
            if t is np.ndarray:
                return self._tracked({"t": "nd", "a": self.array(v)}, v)
            if isinstance(v, np.generic) and t.__module__ == "numpy":
                return {"t": "npscalar", "a": self.array(np.asarray(v))}
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(v, torch.Tensor) and t.__module__.startswith("torch"):
            return self._tracked(self.torch(v, depth, torch), v)
        tf = sys.modules.get("tensorflow")
        if tf is not None and t.__module__.startswith(("tensorflow", "keras")):
            if isinstance(v, (tf.Tensor, tf.Variable)) and not isinstance(v, tf.RaggedTensor):
                node = self.tf(v, tf)
                return self._tracked(node, v) if node["var"] else node
        if self.ref is not None:
            node = self.ref(v)
            if node is not None:
                return node
        raise WireError(f"a {t.__module__}.{t.__qualname__} cannot be sent (only data: numbers, "
                        f"strings, lists, dicts, arrays and tensors)")

    def _tracked(self, node, v):
        oid = self.track(v) if self.track is not None else None
        if oid is not None:
            node["oid"] = oid
        return node

    def torch(self, v, depth, torch):
        if v.is_sparse:
            v = v.to_dense()
        dtype = str(v.dtype).replace("torch.", "")
        d = v.detach().cpu()
        if d.dtype in (torch.bfloat16,):
            d = d.to(torch.float32)
        elif d.dtype == getattr(torch, "complex32", None):
            d = d.to(torch.complex64)
        node = {"t": "torch", "a": self.array(d.resolve_conj().resolve_neg().numpy()),
                "dtype": dtype, "rg": bool(v.requires_grad)}
        if v.is_leaf and v.grad is not None:
            node["grad"] = self.torch(v.grad, depth + 1, torch)
        return node

    def tf(self, v, tf):
        dtype = v.dtype.name
        if dtype in ("bfloat16",):
            v = tf.cast(v, tf.float32)
        if v.dtype == tf.string:
            raise WireError("string tensors cannot be sent")
        return {"t": "tf", "a": self.array(_np().asarray(v.numpy())), "dtype": dtype,
                "var": isinstance(v, tf.Variable)}


def dumps(value, *, ref=None, track=None, max_bytes: int = 256 * 2**20) -> bytes:
    """Encode ``value``; ``ref(obj)`` returns a reference node for a non-data object or None;
    ``track(obj)`` an id under which a mutable array, tensor or variable is mirrored."""
    enc = _Encoder(ref, max_bytes, track)
    header = json.dumps({"v": enc.enc(value), "blobs": [len(b) for b in enc.blobs]},
                        allow_nan=False).encode()
    return b"".join([MAGIC, len(header).to_bytes(8, "big"), header, *enc.blobs])


class _Decoder:
    def __init__(self, blob: memoryview, sizes, deref, mirror=None):
        self.mirror = mirror
        self.blob = blob
        self.offsets = []
        off = 0
        for n in sizes:
            if type(n) is not int or n < 0:
                raise WireError("bad message: array sizes")
            self.offsets.append((off, n))
            off += n
        if off != len(blob):
            raise WireError("bad message: array bytes do not add up")
        self.next = 0
        self.deref = deref
        self.items = 0

    def array(self, meta):
        np = _np()
        if not isinstance(meta, dict):
            raise WireError("bad message: array")
        try:
            dtype = np.dtype(str(meta["dtype"]))
            shape = tuple(int(s) for s in meta["shape"])
        except (KeyError, TypeError, ValueError):
            raise WireError("bad message: array header") from None
        if dtype.kind not in _ARRAY_KINDS or dtype.hasobject or any(s < 0 for s in shape):
            raise WireError(f"bad message: dtype {dtype}")
        if self.next >= len(self.offsets):
            raise WireError("bad message: missing array bytes")
        off, n = self.offsets[self.next]
        self.next += 1
        if n != math.prod(shape) * dtype.itemsize:
            raise WireError("bad message: array size does not match its shape")
        return np.frombuffer(self.blob[off:off + n], dtype=dtype).reshape(shape).copy()

    def dec(self, node, depth=0):
        self.items += 1
        if depth > MAX_DEPTH or self.items > MAX_ITEMS:
            raise WireError("bad message: too deep or too many items")
        if node is None or type(node) in (bool, int, float, str):
            return node
        if type(node) is not dict or "t" not in node:
            raise WireError("bad message: unknown node")
        t = node["t"]
        if t in ("list", "tuple"):
            items = [self.dec(x, depth + 1) for x in node["v"]]
            return items if t == "list" else tuple(items)
        if t == "dict":
            out = {}
            for k, v in node["v"]:
                key = self.dec(k, depth + 1)
                try:
                    out[key] = self.dec(v, depth + 1)
                except TypeError:
                    raise WireError("bad message: unhashable dict key") from None
            return out
        if t == "int":
            return int(node["v"])
        if t == "float":
            return float(node["v"]) if node["v"] in ("nan", "inf", "-inf") else _bad(t)
        if t == "complex":
            return complex(float(node["v"][0]), float(node["v"][1]))
        if t == "range":
            return range(*(int(x) for x in node["v"]))
        if t == "bytes":
            return self.array(node["a"]).tobytes()
        if t == "nd":
            return self._mirrored(node, self.array(node["a"]))
        if t == "npscalar":
            return self.array(node["a"])[()]
        if t == "torch":
            return self._mirrored(node, self.torch(node, depth))
        if t == "tf":
            return self._mirrored(node, self.tf(node))
        if self.deref is not None:
            return self.deref(node)
        raise WireError(f"bad message: {t!r} not allowed here")

    def _mirrored(self, node, value):
        if self.mirror is not None and type(node.get("oid")) is int:
            return self.mirror(node["oid"], value)
        return value

    def torch(self, node, depth):
        import torch
        arr = self.array(node["a"])
        dtype = getattr(torch, str(node.get("dtype", "")), None)
        value = torch.from_numpy(arr)
        if isinstance(dtype, torch.dtype) and value.dtype != dtype:
            value = value.to(dtype)
        if node.get("rg") and (value.is_floating_point() or value.is_complex()):
            value.requires_grad_(True)
            if "grad" in node:
                grad = self.torch(node["grad"], depth + 1)
                if grad.shape == value.shape:
                    value.grad = grad.to(value.dtype)
        return value

    def tf(self, node):
        import tensorflow as tf
        value = tf.constant(self.array(node["a"]))
        dtype = str(node.get("dtype", ""))
        if dtype and dtype != value.dtype.name:
            value = tf.cast(value, dtype)
        return tf.Variable(value) if node.get("var") else value


def _bad(what):
    raise WireError(f"bad message: {what}")


def loads(data: bytes, *, deref=None, mirror=None, max_bytes: int = 256 * 2**20):
    """Decode a message made by :func:`dumps`; ``deref(node)`` resolves reference nodes,
    ``mirror(id, value)`` returns the object a mirrored value stands for."""
    if len(data) > max_bytes + 64 * 2**20:
        raise WireError(f"message larger than {max_bytes // 2**20} MiB")
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 8:
        raise WireError("bad message: not a course wire message")
    n = int.from_bytes(data[len(MAGIC):len(MAGIC) + 8], "big")
    start = len(MAGIC) + 8
    if n > len(data) - start or n > 64 * 2**20:
        raise WireError("bad message: header length")
    try:
        header = json.loads(data[start:start + n])
    except (ValueError, RecursionError):
        raise WireError("bad message: header is not JSON") from None
    if type(header) is not dict or type(header.get("blobs")) is not list:
        raise WireError("bad message: header")
    blob = memoryview(data)[start + n:]
    try:
        return _Decoder(blob, header["blobs"], deref, mirror).dec(header.get("v"))
    except (KeyError, TypeError, IndexError, RecursionError):
        raise WireError("bad message: malformed value") from None


# ---------------------------------------------------------------------------- mirroring

def leaves(v, out=None) -> list:
    """The values inside nested lists, tuples and dicts, in order (what a call's
    arguments hold: the tensors a test may differentiate through)."""
    out = [] if out is None else out
    if type(v) in (list, tuple):
        for x in v:
            leaves(x, out)
    elif type(v) is dict:
        for x in v.values():
            leaves(x, out)
    else:
        out.append(v)
    return out


def is_mutable_leaf(v) -> bool:
    """Arrays, tensors and variables: values a function may change in place."""
    t = type(v)
    np = sys.modules.get("numpy")
    if np is not None and t is np.ndarray:
        return True
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(v, torch.Tensor) and t.__module__.startswith("torch"):
        return True
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(v, tf.Variable)


def digest(v) -> str:
    """A fingerprint of a mutable leaf's current value (shape, dtype and bytes)."""
    import hashlib
    np = _np()
    if hasattr(v, "detach"):
        arr = v.detach().cpu()
        if str(arr.dtype) == "torch.bfloat16":
            arr = arr.float()
        arr = arr.resolve_conj().resolve_neg().numpy()
    elif hasattr(v, "assign") and hasattr(v, "numpy"):
        arr = np.asarray(v.numpy())
    else:
        arr = np.asarray(v)
    arr = arr if arr.flags.c_contiguous else arr.copy(order="C")
    return hashlib.sha1(f"{arr.dtype.str}{arr.shape}".encode() + arr.tobytes()).hexdigest()


def assign(dst, src) -> bool:
    """Write ``src``'s value into ``dst`` in place (False where the shapes differ)."""
    np = _np()
    try:
        if hasattr(dst, "detach"):
            import torch
            src_t = src if isinstance(src, torch.Tensor) else torch.as_tensor(np.asarray(src))
            with torch.no_grad():
                if tuple(dst.shape) == tuple(src_t.shape):
                    dst.copy_(src_t.to(dst.dtype))
                else:
                    dst.data = src_t.to(dst.dtype)
            return True
        if hasattr(dst, "assign") and hasattr(dst, "numpy"):
            value = src.numpy() if hasattr(src, "numpy") else np.asarray(src)
            if tuple(dst.shape) != tuple(np.shape(value)):
                return False
            dst.assign(value)
            return True
        value = np.asarray(src.numpy() if hasattr(src, "numpy") else src)
        if dst.shape != value.shape or not dst.flags.writeable:
            return False
        dst[...] = value
        return True
    except Exception:  # noqa: BLE001 - a value that does not fit: leave dst as it was
        return False


class Mirrors:
    """The objects one side shares with the other under mirror ids: the same object for
    the same id every time, brought up to date with what arrived, at most ``limit`` kept
    (the oldest lose their identity, not their values). ``new_id(obj)`` numbers objects
    this side sends first (the checker uses positive ids, the kernel negative ones)."""

    def __init__(self, new_id, limit: int = 5000):
        self.new_id, self.limit = new_id, limit
        self.by_id: dict = {}      # mirror id -> object
        self.ids: dict = {}        # id(object) -> mirror id

    def remember(self, oid, obj) -> None:
        old = self.by_id.pop(oid, None)
        if old is not None:
            self.ids.pop(id(old), None)
        self.by_id[oid] = obj
        self.ids[id(obj)] = oid
        while len(self.by_id) > self.limit:
            first = next(iter(self.by_id))
            self.ids.pop(id(self.by_id.pop(first)), None)

    def track(self, obj):
        """The mirror id of a mutable value about to be sent (None for other values)."""
        if not is_mutable_leaf(obj):
            return None
        oid = self.ids.get(id(obj))
        if oid is None:
            oid = self.new_id(obj)
            self.remember(oid, obj)
        return oid

    def sync(self, oid, fresh):
        """The object ``fresh`` stands for: ours, updated in place, where it still fits."""
        cur = self.by_id.get(oid)
        if cur is not None and type(cur) is type(fresh):
            if digest(cur) == digest(fresh) or assign(cur, fresh):
                return cur
        self.remember(oid, fresh)
        return fresh

    def items(self):
        return self.by_id.items()
