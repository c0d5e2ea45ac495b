"""A procedural image-captioning data set: coloured shapes with English captions.

Every image is drawn from its own random stream, seeded by (seed, split, index),
so image i is the same whatever n is and the generator needs no files at all.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

SHAPES = ("circle", "square", "triangle")
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 200, 30),
    "purple": (150, 60, 190),
}
COLOUR_NAMES = tuple(COLOURS)
SIZES = {"small": 0.11, "large": 0.19}  # radius as a fraction of the image side
SIZE_NAMES = tuple(SIZES)
BACKGROUND = (235, 235, 235)
RELATIONS = ("above", "below", "left of", "right of")
SUPERSAMPLE = 4  # anti-aliasing: shapes are drawn at 4x and averaged
_SPLIT_CODES = {"train": 0, "test": 1, "val": 2}


@dataclass
class ShapesData:
    images: np.ndarray  # (N, size, size, 3) uint8
    captions: np.ndarray  # (N,) object array of str
    attributes: list[list[dict]]  # per image, per shape: shape, colour, size, x, y, radius
    n_shapes: np.ndarray  # (N,) int64
    shape_ids: np.ndarray  # (N, max_shapes) int64 index into SHAPES, -1 = no shape
    colour_ids: np.ndarray  # (N, max_shapes) index into COLOUR_NAMES, -1 = no shape
    size_ids: np.ndarray  # (N, max_shapes) index into SIZE_NAMES, -1 = no shape
    centres: np.ndarray  # (N, max_shapes, 2) float32 (x, y) in pixels, NaN = no shape
    vocabulary: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)


def _relation(a: dict, b: dict) -> str:
    """Where a is relative to b, along the axis on which they are further apart."""
    dx, dy = a["x"] - b["x"], a["y"] - b["y"]
    if abs(dy) >= abs(dx):
        return "above" if dy < 0 else "below"
    return "left of" if dx < 0 else "right of"


def caption_for(shapes: list[dict]) -> str:
    """'a small red circle above a large blue square, which is left of a small green triangle'."""
    def np_(s):
        return f"a {s['size']} {s['colour']} {s['shape']}"

    text = np_(shapes[0])
    for prev, cur in zip(shapes, shapes[1:]):
        rel = _relation(prev, cur)
        text += f" {rel} {np_(cur)}" if prev is shapes[0] else f", which is {rel} {np_(cur)}"
    return text


def vocabulary() -> list[str]:
    words = {"a", "which", "is", ","} | set(SHAPES) | set(COLOUR_NAMES) | set(SIZE_NAMES)
    words |= {w for r in RELATIONS for w in r.split()}
    return sorted(words)


def _coverage(kind: str, cx: float, cy: float, r: float, size: int) -> np.ndarray:
    """Fraction of each pixel covered by the shape (supersampled)."""
    s = SUPERSAMPLE
    coords = (np.arange(size * s) + 0.5) / s
    x = coords[None, :]
    y = coords[:, None]
    if kind == "circle":
        inside = (x - cx) ** 2 + (y - cy) ** 2 <= r * r
    elif kind == "square":
        h = r * 0.85  # same visual area as the circle, roughly
        inside = (np.abs(x - cx) <= h) & (np.abs(y - cy) <= h)
    else:  # upright triangle: apex at the top, base at the bottom of the bounding circle
        top, base = cy - r, cy + r * 0.8
        half = r * 1.05
        t = (y - top) / (base - top)  # 0 at apex, 1 at base
        inside = (t >= 0) & (t <= 1) & (np.abs(x - cx) <= t * half)
    return inside.reshape(size, s, size, s).mean(axis=(1, 3))


def _draw_one(rng: np.random.Generator, size: int, min_shapes: int, max_shapes: int):
    k = int(rng.integers(min_shapes, max_shapes + 1))
    shapes: list[dict] = []
    used = set()
    for _ in range(k):
        for _try in range(200):
            kind = SHAPES[int(rng.integers(len(SHAPES)))]
            colour = COLOUR_NAMES[int(rng.integers(len(COLOUR_NAMES)))]
            sname = SIZE_NAMES[int(rng.integers(len(SIZE_NAMES)))]
            r = SIZES[sname] * size
            margin = r + 1
            cx = float(rng.uniform(margin, size - margin))
            cy = float(rng.uniform(margin, size - margin))
            if (kind, colour) in used:  # keep captions unambiguous
                continue
            if all(np.hypot(cx - o["x"], cy - o["y"]) > r + o["radius"] + 1.5 for o in shapes):
                break
        else:  # crowded: settle for fewer shapes rather than overlapping ones
            break
        used.add((kind, colour))
        shapes.append({"shape": kind, "colour": colour, "size": sname,
                       "x": round(cx, 3), "y": round(cy, 3), "radius": round(r, 3)})
    img = np.empty((size, size, 3), np.float64)
    img[:] = BACKGROUND
    for s in shapes:
        a = _coverage(s["shape"], s["x"], s["y"], s["radius"], size)[..., None]
        img = img * (1 - a) + np.asarray(COLOURS[s["colour"]], np.float64) * a
    return np.round(img).astype(np.uint8), shapes


def generate(n: int, *, size: int = 32, seed: int = 0, split: str = "train",
             min_shapes: int = 1, max_shapes: int = 3) -> ShapesData:
    """Draw ``n`` images of ``size`` x ``size`` pixels with 1-3 shapes each, and their captions."""
    if size < 16:
        raise ValueError("size must be at least 16 pixels for the shapes to be recognisable")
    if not 1 <= min_shapes <= max_shapes <= 3:
        raise ValueError("need 1 <= min_shapes <= max_shapes <= 3")
    code = _SPLIT_CODES[split]
    images = np.empty((n, size, size, 3), np.uint8)
    captions = np.empty(n, dtype=object)
    attrs: list[list[dict]] = []
    shape_ids = np.full((n, max_shapes), -1, np.int64)
    colour_ids = np.full((n, max_shapes), -1, np.int64)
    size_ids = np.full((n, max_shapes), -1, np.int64)
    centres = np.full((n, max_shapes, 2), np.nan, np.float32)
    for i in range(n):
        rng = np.random.default_rng([seed, code, i])
        images[i], shapes = _draw_one(rng, size, min_shapes, max_shapes)
        captions[i] = caption_for(shapes)
        attrs.append(shapes)
        for j, s in enumerate(shapes):
            shape_ids[i, j] = SHAPES.index(s["shape"])
            colour_ids[i, j] = COLOUR_NAMES.index(s["colour"])
            size_ids[i, j] = SIZE_NAMES.index(s["size"])
            centres[i, j] = (s["x"], s["y"])
    n_shapes = (shape_ids >= 0).sum(axis=1)
    return ShapesData(images, captions, attrs, n_shapes, shape_ids, colour_ids, size_ids, centres, vocabulary())


def fingerprint(data: ShapesData) -> str:
    """sha256 of the images and captions: the registry keeps the expected value for a reference draw."""
    h = hashlib.sha256(data.images.tobytes())
    h.update("\n".join(data.captions).encode())
    return h.hexdigest()
