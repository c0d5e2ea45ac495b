"""Pretrained models, offline, in both frameworks, agreeing with each other."""
from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from course import zoo
from course.zoo import efficientnet
from course.zoo._pth import load_state_dict

CATS = set(range(281, 288))  # tabby, tiger cat, Persian, Siamese, Egyptian cat, cougar, lynx


@pytest.fixture(scope="module")
def effnet_logits():
    import torch

    torch_model = zoo.efficientnet_lite0("torch")
    keras_model = zoo.efficientnet_lite0("keras")
    images = [skimage.data.chelsea(), skimage.data.coffee()]
    with torch.no_grad():
        lt = torch_model(torch.from_numpy(zoo.efficientnet_preprocess(images, layout="nchw"))).numpy()
    lk = np.asarray(keras_model(zoo.efficientnet_preprocess(images, layout="nhwc"), training=False))
    return torch_model, keras_model, lt, lk


def test_efficientnet_weights_read_without_torch_match_torch_load():
    import torch

    path = efficientnet.weights_path()
    ours = load_state_dict(path)
    theirs = torch.load(path, map_location="cpu", weights_only=True)
    assert list(ours) == list(theirs)
    for k, v in theirs.items():
        np.testing.assert_array_equal(ours[k], v.numpy())
    assert sum(v.size for v in ours.values()) == efficientnet.N_PARAMETERS == 4_694_073


def test_pth_reader_handles_the_zip_format(tmp_path):
    import torch

    state = {"w": torch.arange(12.0).reshape(3, 4).t(), "n": torch.tensor(7), "b": torch.ones(2, dtype=torch.int64)}
    torch.save(state, tmp_path / "m.pth")
    got = load_state_dict(tmp_path / "m.pth")
    for k, v in state.items():
        np.testing.assert_array_equal(got[k], v.numpy())


def test_efficientnet_torch_module(effnet_logits):
    torch_model, _, lt, _ = effnet_logits
    import torch

    assert isinstance(torch_model, torch.nn.Module) and not torch_model.training
    total = sum(p.numel() for p in torch_model.parameters()) + sum(b.numel() for b in torch_model.buffers())
    assert total == 4_694_073
    assert lt.shape == (2, 1000)


def test_efficientnet_sees_a_cat_in_both_frameworks(effnet_logits):
    _, _, lt, lk = effnet_logits
    for logits in (lt, lk):
        top3 = [i for i, _, _ in zoo.decode_predictions(logits[:1], top=3)[0]]
        assert CATS & set(top3), top3
        espresso = zoo.decode_predictions(logits[1:], top=1)[0][0]
        assert espresso[:2] == (967, "espresso") and espresso[2] > 0.5


def test_efficientnet_torch_and_keras_logits_agree(effnet_logits):
    _, keras_model, lt, lk = effnet_logits
    assert np.abs(lt - lk).max() < 1e-4
    assert keras_model.count_params() == 4_694_073 - 49  # Keras keeps no num_batches_tracked counters


def test_preprocessing():
    x = zoo.efficientnet_preprocess(skimage.data.chelsea())
    assert x.shape == (1, 224, 224, 3) and x.dtype == np.float32
    assert -1.0 <= x.min() and x.max() <= (255 - 127) / 128
    assert zoo.efficientnet_preprocess(np.full((300, 500, 3), 127, np.uint8), layout="nchw").shape == (1, 3, 224, 224)
    assert not zoo.efficientnet_preprocess(np.full((50, 60, 3), 127, np.uint8)).any()  # 127 -> 0
    with pytest.raises(ValueError):
        zoo.efficientnet_preprocess(skimage.data.chelsea(), layout="chw")


PARAPHRASE = ("A man is playing a guitar.", "Someone is playing an instrument.")
UNRELATED = ("A man is playing a guitar.", "The stock market fell sharply today.")


@pytest.fixture(scope="module")
def minilm_embeddings():
    sentences = [*PARAPHRASE, UNRELATED[1]]
    return sentences, zoo.minilm("torch").encode(sentences), zoo.minilm("keras").encode(sentences)


@pytest.mark.parametrize("route", ["torch", "keras"])
def test_minilm_similarities(minilm_embeddings, route):
    _, et, ek = minilm_embeddings
    e = et if route == "torch" else ek
    assert e.shape == (3, 384) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    assert float(e[0] @ e[1]) > 0.5  # paraphrase
    assert float(e[0] @ e[2]) < 0.2  # unrelated


def test_minilm_routes_agree(minilm_embeddings):
    _, et, ek = minilm_embeddings
    assert np.abs(et - ek).max() < 1e-4


def test_minilm_keras_handles_padding_and_long_input():
    enc = zoo.minilm("tensorflow")
    long = "word " * 400  # truncated at 256 tokens like the torch route
    batch = enc.encode(["short", long])
    alone = enc.encode(["short"])
    np.testing.assert_allclose(batch[0], alone[0], atol=1e-5)  # padding does not change an embedding
    assert enc.tokenize([long])["input_ids"].shape == (1, 256)


def test_framework_names():
    with pytest.raises(ValueError, match="framework must be"):
        zoo.efficientnet_lite0("jax")
