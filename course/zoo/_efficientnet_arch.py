"""EfficientNet-Lite0's architecture as numbers: shared by the torch and Keras builds."""
from __future__ import annotations

# (repeats, kernel, stride, expand ratio, in channels, out channels) per stage
STAGES = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
NUM_CLASSES = 1000
BN_EPS = 1e-3
DROPOUT = 0.2
INPUT_SIZE = 224
MEAN, SCALE = 127.0, 128.0  # preprocessing: (x - 127) / 128 on 0..255 RGB
N_PARAMETERS = 4_694_073  # every tensor in the file, batch-norm statistics included


def blocks():
    """(kernel, stride, expand, in, out) for each of the 16 MBConv blocks, in order."""
    out = []
    for repeats, k, s, e, cin, cout in STAGES:
        for r in range(repeats):
            out.append((k, s if r == 0 else 1, e, cin if r == 0 else cout, cout))
    return out


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding (before, after) for one spatial dimension."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2
