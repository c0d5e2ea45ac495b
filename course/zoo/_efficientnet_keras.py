"""The Keras 3 model (imported only when a Keras model is asked for).

Padding is explicit (ZeroPadding2D + 'valid') so that every Keras backend pads
like TensorFlow's 'SAME', which the weights expect.
"""
from __future__ import annotations

from course.frameworks import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402
from keras import layers  # noqa: E402

from course.zoo._efficientnet_arch import (  # noqa: E402
    BN_EPS, DROPOUT, HEAD_CHANNELS, NUM_CLASSES, STEM_CHANNELS, blocks, same_padding,
)


def _pad(x, size, kernel, stride, name):
    pads = same_padding(size, kernel, stride)
    if pads == (0, 0):
        return x
    return layers.ZeroPadding2D((pads, pads), name=name)(x)


def _bn(name):
    return layers.BatchNormalization(epsilon=BN_EPS, momentum=0.99, name=name)


def build(input_size: int = 224) -> keras.Model:
    inputs = keras.Input((input_size, input_size, 3), name="image")
    size = input_size
    x = _pad(inputs, size, 3, 2, "stem_pad")
    x = layers.Conv2D(STEM_CHANNELS, 3, strides=2, use_bias=False, name="conv_stem")(x)
    size = -(-size // 2)
    x = layers.ReLU(6.0, name="stem_relu6")(_bn("bn0")(x))
    for i, (k, s, e, cin, cout) in enumerate(blocks()):
        p = f"blocks_{i}_"
        h = x
        if e != 1:
            h = layers.Conv2D(cin * e, 1, use_bias=False, name=p + "expand_conv")(h)
            h = layers.ReLU(6.0, name=p + "expand_relu6")(_bn(p + "bn0")(h))
        h = _pad(h, size, k, s, p + "pad")
        h = layers.DepthwiseConv2D(k, strides=s, use_bias=False, name=p + "depthwise_conv")(h)
        size = -(-size // s)
        h = layers.ReLU(6.0, name=p + "dw_relu6")(_bn(p + "bn1")(h))
        h = layers.Conv2D(cout, 1, use_bias=False, name=p + "project_conv")(h)
        h = _bn(p + "bn2")(h)
        x = layers.Add(name=p + "add")([x, h]) if s == 1 and cin == cout else h
    x = layers.Conv2D(HEAD_CHANNELS, 1, use_bias=False, name="conv_head")(x)
    x = layers.ReLU(6.0, name="head_relu6")(_bn("bn1")(x))
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(DROPOUT, name="dropout")(x)
    outputs = layers.Dense(NUM_CLASSES, name="fc")(x)
    return keras.Model(inputs, outputs, name="efficientnet_lite0")


def _torch_name(keras_name: str) -> str:
    """'blocks_3_depthwise_conv' -> '_blocks.3._depthwise_conv'; 'conv_stem' -> '_conv_stem'."""
    if keras_name.startswith("blocks_"):
        _, idx, rest = keras_name.split("_", 2)
        return f"_blocks.{idx}._{rest}"
    return "_" + keras_name


def load_torch_weights(model: keras.Model, state: dict) -> None:
    """Copy a torch state dict (numpy arrays) into the Keras layers, transposing kernels."""
    used = set()
    for layer in model.layers:
        if not layer.weights:
            continue
        t = _torch_name(layer.name)
        if isinstance(layer, layers.DepthwiseConv2D):  # torch (C, 1, kh, kw) -> keras (kh, kw, C, 1)
            w = [state[t + ".weight"].transpose(2, 3, 0, 1)]
            used.add(t + ".weight")
        elif isinstance(layer, layers.Conv2D):  # torch (out, in, kh, kw) -> keras (kh, kw, in, out)
            w = [state[t + ".weight"].transpose(2, 3, 1, 0)]
            used.add(t + ".weight")
        elif isinstance(layer, layers.BatchNormalization):
            keys = [t + s for s in (".weight", ".bias", ".running_mean", ".running_var")]
            w = [state[k] for k in keys]
            used.update(keys + [t + ".num_batches_tracked"])
        elif isinstance(layer, layers.Dense):
            w = [state[t + ".weight"].T, state[t + ".bias"]]
            used.update({t + ".weight", t + ".bias"})
        else:
            raise ValueError(f"no weight mapping for layer {layer.name}")
        layer.set_weights(w)
    missing = set(state) - used
    if missing:
        raise ValueError(f"weights not used by the Keras model: {sorted(missing)[:5]}")
