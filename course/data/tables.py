"""Tabular data sets: breast cancer, Adult, COMPAS, and tables by name."""
from __future__ import annotations

import csv
import io

import numpy as np

from course.data.errors import DataError
from course.data.datasets import Dataset, Split, fixed_split, read_text, subset
from course.data.registry import get_entry


# --------------------------------------------------------------------------- tables

def load_table(name: str) -> dict[str, np.ndarray]:
    """A CSV data set as raw columns {name: array}: numbers as float64, everything else as str.

    ``pandas.DataFrame(load_table("adult"))`` gives a DataFrame where pandas is installed.
    """
    entry = get_entry(name)
    specs = [f for f in entry.files if f.path.endswith(".csv")]
    if len(specs) != 1:
        raise DataError(f"{entry.name} is not a single-CSV table")
    rows = list(csv.reader(io.StringIO(read_text(specs[0]))))
    header, body = rows[0], [r for r in rows[1:] if r]
    cols: dict[str, np.ndarray] = {}
    for j, col in enumerate(header):
        if not col or col in cols:  # COMPAS repeats 'decile_score' and ends with an empty column
            col = f"{col or 'column'}_{j}"
        values = [r[j] if j < len(r) else "" for r in body]
        try:
            cols[col] = np.array([float(v) if v != "" else np.nan for v in values])
        except ValueError:
            cols[col] = np.array(values, dtype=object)
    return cols


def _design_matrix(table, numeric: list[str], categorical: list[str]):
    """Numbers as they are plus one-hot categories (sorted), as float32, with column names."""
    blocks, names = [], []
    for c in numeric:
        blocks.append(np.asarray(table[c], np.float32)[:, None])
        names.append(c)
    for c in categorical:
        values = np.asarray(table[c]).astype(str)
        cats = sorted(set(values))
        blocks.append((values[:, None] == np.array(cats)[None, :]).astype(np.float32))
        names += [f"{c}={v}" for v in cats]
    return np.concatenate(blocks, axis=1), names


def _tabular(name, x, y, groups, names, classes, n_train, n_test, seed, test_fraction, src, info=None):
    tr, te = fixed_split(y, test_fraction)
    mk = lambda idx: Split(x[idx], y[idx], {k: v[idx] for k, v in groups.items()})
    return Dataset(name, classes=classes, feature_names=names, source=src, variant="default",
                   train=subset(mk(tr), n_train, seed), test=subset(mk(te), n_test, seed), info=info or {})


ADULT_NUMERIC = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
ADULT_CATEGORICAL = ["workclass", "education", "marital-status", "occupation", "relationship",
                     "race", "sex", "native-country"]


def load_adult(*, n_train: int | None = None, n_test: int | None = None, seed: int = 0,
               test_fraction: float = 0.25) -> Dataset:
    """UCI Adult: x float32 (numbers + one-hot categories, names in ``feature_names``), y int64 (1 = >50K);
    ``split.extra['sex']`` / ``['race']`` keep the sensitive attributes as strings. Fixed stratified split."""
    t = load_table("adult")
    y = (t["income-per-year"] == ">50K").astype(np.int64)
    x, names = _design_matrix(t, ADULT_NUMERIC, ADULT_CATEGORICAL)
    groups = {"sex": t["sex"], "race": t["race"]}
    return _tabular("adult", x, y, groups, names, ["<=50K", ">50K"], n_train, n_test, seed, test_fraction,
                    "registry: adult/adult.csv")


COMPAS_NUMERIC = ["age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count"]
COMPAS_CATEGORICAL = ["sex", "race", "c_charge_degree"]


def load_compas(*, n_train: int | None = None, n_test: int | None = None, seed: int = 0,
                test_fraction: float = 0.25) -> Dataset:
    """ProPublica COMPAS with ProPublica's row filters (6,172 rows): x float32 features, y = two_year_recid;
    ``split.extra`` has sex, race, and COMPAS's own decile_score / score_text to compare against."""
    t = load_table("compas")
    d = t["days_b_screening_arrest"]
    keep = (np.abs(np.nan_to_num(d, nan=999)) <= 30) & (t["is_recid"] != -1) & \
           (t["c_charge_degree"] != "O") & (t["score_text"] != "N/A")
    t = {k: v[keep] for k, v in t.items()}
    x, names = _design_matrix(t, COMPAS_NUMERIC, COMPAS_CATEGORICAL)
    y = t["two_year_recid"].astype(np.int64)
    groups = {"sex": t["sex"], "race": t["race"], "decile_score": t["decile_score"].astype(np.int64),
              "score_text": t["score_text"]}
    return _tabular("compas", x, y, groups, names, ["no recidivism", "recidivism"], n_train, n_test, seed,
                    test_fraction, "registry: compas/compas-scores-two-years.csv")


