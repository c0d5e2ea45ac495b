"""Text data sets: SST-2, SMS spam, Tiny Shakespeare."""
from __future__ import annotations


import numpy as np

from course.data.errors import CorruptFileError
from course.data.files import locate
from course.data.datasets import Dataset, Split, TextCorpus, fixed_split, read_text, subset
from course.data.registry import get_entry


# --------------------------------------------------------------------------- text

def _tsv_pairs(text: str, label_first: bool):
    rows = [line for line in text.splitlines() if line.strip()]
    out = []
    for line in rows:
        a, sep, b = line.partition("\t") if label_first else line.rpartition("\t")
        if not sep:
            raise CorruptFileError(f"line without a tab: {line[:60]!r}")
        out.append((a, b))
    return out


def _text_split(texts, labels) -> Split:
    return Split(np.array(texts, dtype=object), np.array(labels, dtype=np.int64))


def load_sst2(*, n_train: int | None = None, n_test: int | None = None, seed: int = 0) -> Dataset:
    """SST-2 sentences (x: str array), y int64 (0 negative, 1 positive); train 6,920 / val 872 / test 1,821."""
    entry = get_entry("sst2")
    splits = {}
    for spec in entry.files:
        pairs = _tsv_pairs(read_text(spec), label_first=False)
        splits[spec.name.split(".")[0]] = _text_split([p[0] for p in pairs], [int(p[1]) for p in pairs])
    return Dataset("sst2", classes=["negative", "positive"], variant="default",
                   source=str(locate(entry.files[0], download=False).path.parent),
                   train=subset(splits["train"], n_train, seed), val=splits["dev"],
                   test=subset(splits["test"], n_test, seed))


def load_sms_spam(*, n_train: int | None = None, n_test: int | None = None, seed: int = 0,
                  test_fraction: float = 0.2) -> Dataset:
    """SMS Spam Collection: x str messages, y int64 (1 spam, 0 ham); fixed stratified 80/20 split."""
    entry = get_entry("sms-spam")
    pairs = _tsv_pairs(read_text(entry.files[0]), label_first=True)
    labels = np.array([{"ham": 0, "spam": 1}[p[0]] for p in pairs], np.int64)
    texts = np.array([p[1] for p in pairs], dtype=object)
    tr, te = fixed_split(labels, test_fraction)
    return Dataset("sms-spam", classes=["ham", "spam"], variant="default",
                   source=str(locate(entry.files[0], download=False).path),
                   train=subset(Split(texts[tr], labels[tr]), n_train, seed),
                   test=subset(Split(texts[te], labels[te]), n_test, seed))


def load_tinyshakespeare(*, val_fraction: float = 0.1) -> TextCorpus:
    """Tiny Shakespeare as characters: text, sorted vocabulary (65), and int ids split 90/10 (in order)."""
    entry = get_entry("tinyshakespeare")
    loc = locate(entry.files[0], keep=True)
    text = loc.content.decode("utf-8")
    vocab = sorted(set(text))
    lut = np.zeros(max(map(ord, vocab)) + 1, np.int64)
    lut[[ord(c) for c in vocab]] = np.arange(len(vocab))
    codes = np.frombuffer(text.encode("utf-32-le"), np.uint32)
    ids = lut[codes]
    cut = int(len(ids) * (1 - val_fraction))
    return TextCorpus("tinyshakespeare", text, vocab, ids[:cut], ids[cut:], source=str(loc.path))


