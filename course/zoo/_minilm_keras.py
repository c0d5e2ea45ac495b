"""A small Keras 3 port of the BERT encoder used by all-MiniLM-L6-v2 (post-layer-norm BERT).

Written with keras.ops so that it runs on any Keras backend; imported only when
the TensorFlow route is asked for.
"""
from __future__ import annotations

from course.frameworks import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402
from keras import layers, ops  # noqa: E402


class BertLayer(layers.Layer):
    """Self-attention and feed-forward, each followed by residual + LayerNorm."""

    def __init__(self, hidden, heads, intermediate, eps, **kw):
        super().__init__(**kw)
        self.heads, self.head_dim = heads, hidden // heads
        self.query = layers.Dense(hidden, name="query")
        self.key = layers.Dense(hidden, name="key")
        self.value = layers.Dense(hidden, name="value")
        self.attn_out = layers.Dense(hidden, name="attention_output")
        self.attn_norm = layers.LayerNormalization(epsilon=eps, name="attention_norm")
        self.intermediate = layers.Dense(intermediate, name="intermediate")
        self.ffn_out = layers.Dense(hidden, name="output")
        self.ffn_norm = layers.LayerNormalization(epsilon=eps, name="output_norm")

    def _split(self, x):
        b, t = ops.shape(x)[0], ops.shape(x)[1]
        return ops.transpose(ops.reshape(x, (b, t, self.heads, self.head_dim)), (0, 2, 1, 3))

    def call(self, x, mask_bias):
        q, k, v = self._split(self.query(x)), self._split(self.key(x)), self._split(self.value(x))
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / (self.head_dim ** 0.5) + mask_bias
        ctx = ops.matmul(ops.softmax(scores, axis=-1), v)
        b, t = ops.shape(x)[0], ops.shape(x)[1]
        ctx = ops.reshape(ops.transpose(ctx, (0, 2, 1, 3)), (b, t, self.heads * self.head_dim))
        h = self.attn_norm(x + self.attn_out(ctx))
        f = self.ffn_out(keras.activations.gelu(self.intermediate(h), approximate=False))  # BERT's exact GELU
        return self.ffn_norm(h + f)


class SentenceEncoder(keras.Model):
    """token ids -> mean-pooled, L2-normalised sentence embeddings."""

    def __init__(self, config, **kw):
        super().__init__(**kw)
        h, eps = config["hidden_size"], config["layer_norm_eps"]
        self.word = layers.Embedding(config["vocab_size"], h, name="word_embeddings")
        self.position = layers.Embedding(config["max_position_embeddings"], h, name="position_embeddings")
        self.token_type = layers.Embedding(config["type_vocab_size"], h, name="token_type_embeddings")
        self.emb_norm = layers.LayerNormalization(epsilon=eps, name="embeddings_norm")
        self.encoder = [BertLayer(h, config["num_attention_heads"], config["intermediate_size"], eps,
                                  name=f"layer_{i}") for i in range(config["num_hidden_layers"])]

    def call(self, inputs):
        ids = inputs["input_ids"]
        mask = ops.cast(inputs["attention_mask"], "float32")
        types = inputs.get("token_type_ids")
        if types is None:
            types = ops.zeros_like(ids)
        positions = ops.arange(ops.shape(ids)[1])
        x = self.word(ids) + self.position(positions)[None] + self.token_type(types)
        x = self.emb_norm(x)
        bias = (1.0 - mask)[:, None, None, :] * -1e9  # padding tokens get no attention
        for layer in self.encoder:
            x = layer(x, bias)
        summed = ops.sum(x * mask[..., None], axis=1)
        pooled = summed / ops.maximum(ops.sum(mask, axis=1, keepdims=True), 1e-9)
        return pooled / ops.maximum(ops.norm(pooled, axis=-1, keepdims=True), 1e-12)


def build(config) -> SentenceEncoder:
    model = SentenceEncoder(config, name="all_minilm_l6_v2")
    dummy = {k: ops.ones((1, 4), "int32") for k in ("input_ids", "attention_mask", "token_type_ids")}
    model(dummy)  # create the weights
    return model


def load_weights(model: SentenceEncoder, w: dict, config) -> None:
    """Copy the Hugging Face BERT tensors in; torch Linear weights are (out, in), Keras Dense (in, out)."""
    used = set()

    def get(key):
        used.add(key)
        return w[key]

    def dense(layer, prefix):
        layer.set_weights([get(prefix + ".weight").T, get(prefix + ".bias")])

    def norm(layer, prefix):
        layer.set_weights([get(prefix + ".weight"), get(prefix + ".bias")])

    model.word.set_weights([get("embeddings.word_embeddings.weight")])
    model.position.set_weights([get("embeddings.position_embeddings.weight")])
    model.token_type.set_weights([get("embeddings.token_type_embeddings.weight")])
    norm(model.emb_norm, "embeddings.LayerNorm")
    for i, layer in enumerate(model.encoder):
        p = f"encoder.layer.{i}."
        dense(layer.query, p + "attention.self.query")
        dense(layer.key, p + "attention.self.key")
        dense(layer.value, p + "attention.self.value")
        dense(layer.attn_out, p + "attention.output.dense")
        norm(layer.attn_norm, p + "attention.output.LayerNorm")
        dense(layer.intermediate, p + "intermediate.dense")
        dense(layer.ffn_out, p + "output.dense")
        norm(layer.ffn_norm, p + "output.LayerNorm")
    unused = {k for k in w if k not in used and not k.endswith("position_ids") and not k.startswith("pooler.")}
    if unused:
        raise ValueError(f"weights not used by the Keras port: {sorted(unused)[:5]}")
