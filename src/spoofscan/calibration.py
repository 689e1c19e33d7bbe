"""Score calibration: raw scores to log-likelihood ratios and probabilities.

The network's score is an uncalibrated logit (higher = more bona fide). After training,
a logistic regression ``llr = a * score + b`` is fitted on dev scores with the two classes
weighted equally, so ``llr`` is a log-likelihood ratio (bona fide vs spoof) and
``p_fake = 1 / (1 + exp(llr))`` is the probability of fake at equal priors. The two numbers
are stored in the checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .errors import SpoofscanError

MAX_ABS_PARAMETER = 1e6  # |a| and |b| beyond this are no calibration anyone fitted


@dataclass(frozen=True)
class Calibration:
    a: float = 1.0  # scale
    b: float = 0.0  # offset

    def __post_init__(self):
        for name in ("a", "b"):
            value = getattr(self, name)
            if not isinstance(value, float) or not math.isfinite(value) or abs(value) > MAX_ABS_PARAMETER:
                raise SpoofscanError(f"calibration {name} must be a finite float within ±{MAX_ABS_PARAMETER:g}, "
                                     f"got {value!r}")

    def llr(self, score):
        """Calibrated log-likelihood ratio, bona fide vs spoof (natural log)."""
        return self.a * np.asarray(score, dtype=np.float64) + self.b

    def p_fake(self, score):
        """Probability of fake at equal priors, in [0, 1]."""
        return 0.5 * (1.0 - np.tanh(0.5 * self.llr(score)))  # = sigmoid(-llr), overflow-free

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Calibration":
        if not isinstance(d, dict) or set(d) != {"a", "b"}:
            raise SpoofscanError(f"a calibration is a mapping with the numbers a and b, got {d!r:.200}")
        numbers = (int, float, np.integer, np.floating)
        a, b = (float(d[k]) if isinstance(d[k], numbers) and not isinstance(d[k], bool) else d[k] for k in "ab")
        return cls(a=a, b=b)


def fit_calibration(bona: np.ndarray, spoof: np.ndarray, *, l2: float = 1e-4, iterations: int = 50) -> Calibration:
    """Fit ``llr = a * score + b`` by class-balanced logistic regression (Newton's method).

    Parameters
    ----------
    bona, spoof : 1-D arrays of scores of each class (at least one of each).
    l2 : a small ridge on ``a`` and ``b`` so perfectly separated scores still converge.
    """
    bona = np.asarray(bona, dtype=np.float64).ravel()
    spoof = np.asarray(spoof, dtype=np.float64).ravel()
    if len(bona) == 0 or len(spoof) == 0:
        raise SpoofscanError(f"calibration needs scores of both classes (got {len(bona)} bona fide, {len(spoof)} spoof)")
    for name, x in (("bona fide", bona), ("spoof", spoof)):
        if not np.isfinite(x).all():
            raise SpoofscanError(f"calibration: {int((~np.isfinite(x)).sum())} {name} score(s) are NaN or Inf")
    s = np.concatenate([bona, spoof])
    y = np.concatenate([np.ones(len(bona)), np.zeros(len(spoof))])
    w = np.concatenate([np.full(len(bona), 0.5 / len(bona)), np.full(len(spoof), 0.5 / len(spoof))])
    X = np.stack([s, np.ones_like(s)], axis=1)
    theta = np.zeros(2)
    for _ in range(iterations):
        p = 0.5 * (1.0 + np.tanh(0.5 * (X @ theta)))
        grad = X.T @ (w * (p - y)) + l2 * theta
        hess = (X * (w * p * (1 - p))[:, None]).T @ X + l2 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.abs(step).max() < 1e-10:
            break
    if not np.isfinite(theta).all():  # pragma: no cover - the ridge keeps Newton's steps finite
        raise SpoofscanError(f"calibration did not converge (a, b = {theta.tolist()})")
    a, b = np.clip(theta, -MAX_ABS_PARAMETER, MAX_ABS_PARAMETER)  # scores a hair apart: a steep but valid slope
    return Calibration(a=float(a), b=float(b))
