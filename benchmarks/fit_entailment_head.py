"""Fit the entailment head (tasks/ml/entailment_head.npz) on SciFact train and HealthVer dev.

Only those two sets are used; SciFact dev and HealthVer test stay held out for benchmarks/verification.py.
Run: .venv/bin/python -m benchmarks.fit_entailment_head [--cv] (--cv prints grouped 5-fold figures, writes nothing)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmarks.verification import load_healthver, load_pairs
from tasks.index.text import sentence_texts
from tasks.ml.entail import CLASSES, ENTAILMENT_HEAD, pair_features
from tasks.verify import alignment

TARGET = {"SUPPORT": 0, "CONTRADICT": 1, "NEI": 2}
# Inverse L2 strength of the logistic regression, chosen by grouped 5-fold cross-validation (--cv);
# the log is benchmarks/results/entailment_head_cv.md
C = 0.001


def features(pairs: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """The head's inputs and targets for benchmark pairs."""
    rows = []
    for pair in pairs:
        abstract = pair["paper"].abstract
        row, _ = pair_features(pair["claim"], sentence_texts(abstract), alignment(pair["claim"], abstract))
        rows.append(row)
    return np.stack(rows), np.array([TARGET[p["label"]] for p in pairs])


def training_set() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, targets and claim groups of SciFact train and HealthVer dev."""
    pairs = load_pairs("train") + load_healthver("dev")
    x, y = features(pairs)
    groups = np.unique([p["claim"] for p in pairs], return_inverse=True)[1]
    return x, y, groups


def fit(x: np.ndarray, y: np.ndarray, c: float = C):
    """Standardiser and multinomial logistic regression fitted on (x, y)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced").fit(scaler.transform(x), y)
    return scaler, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=ENTAILMENT_HEAD)
    args = parser.parse_args()
    x, y, _ = training_set()
    scaler, model = fit(x, y)
    assert list(model.classes_) == list(range(len(CLASSES)))
    staging = args.output.with_suffix(".tmp.npz")
    np.savez(
        staging,
        mean=scaler.mean_.astype(np.float32),
        scale=scaler.scale_.astype(np.float32),
        coef=model.coef_.astype(np.float32),
        intercept=model.intercept_.astype(np.float32),
    )
    staging.rename(args.output)
    print(f"wrote {args.output}: {model.coef_.shape} from {len(y)} pairs")


if __name__ == "__main__":
    main()
