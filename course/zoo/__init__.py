"""Pretrained models for both frameworks, loaded with no network.

    from course import zoo
    model = zoo.efficientnet_lite0("torch")          # or "keras"
    x = zoo.efficientnet_preprocess(image, layout="nchw")   # "nhwc" for Keras
    zoo.decode_predictions(model(torch.from_numpy(x)).detach().numpy())

    enc = zoo.minilm("torch")                         # or "keras" / "tensorflow"
    enc.encode(["a sentence", "another one"])         # (2, 384), unit length

Importing this package imports neither torch nor TensorFlow: each framework is
imported only when a model for it is built.
"""
from __future__ import annotations

from course.frameworks import framework_of
from course.zoo.efficientnet import decode_predictions, load_weights as efficientnet_weights
from course.zoo.efficientnet import preprocess as efficientnet_preprocess


def _framework(name: str) -> str:
    fw = framework_of(name)
    if fw is None:
        raise ValueError(f"framework must be 'torch' or 'keras' (alias 'tensorflow'), not {name!r}")
    return "torch" if fw == "pytorch" else "keras"


def efficientnet_lite0(framework: str = "torch", *, pretrained: bool = True):
    """ImageNet EfficientNet-Lite0: a torch ``nn.Module`` (eval mode) or a Keras 3 model; both output logits."""
    from course.zoo import efficientnet

    if _framework(framework) == "torch":
        return efficientnet.build_torch(pretrained)
    return efficientnet.build_keras(pretrained)


def minilm(framework: str = "torch"):
    """all-MiniLM-L6-v2 sentence encoder with ``.encode(sentences) -> (N, 384)`` L2-normalised float32."""
    from course.zoo import _minilm

    if _framework(framework) == "torch":
        return _minilm.build_torch()
    return _minilm.build_keras()


def imagenet_classes() -> list[str]:
    """The 1,000 ImageNet-1k class names, in the models' output order."""
    from course.data.loaders import imagenet_classes as _names

    return _names()


__all__ = ["efficientnet_lite0", "efficientnet_preprocess", "efficientnet_weights", "decode_predictions",
           "minilm", "imagenet_classes"]
