"""Calibration (spoofscan.calibration): score -> LLR -> p_fake, fitted by logistic regression."""

from __future__ import annotations

import numpy as np
import pytest

from spoofscan.calibration import Calibration, fit_calibration
from spoofscan.errors import SpoofscanError


def test_calibration_recovers_a_known_log_likelihood_ratio():
    # Gaussian classes N(2, 1) and N(-1, 1): the true LLR is 3 s - 1.5
    rng = np.random.default_rng(0)
    cal = fit_calibration(rng.normal(2.0, 1.0, 20_000), rng.normal(-1.0, 1.0, 5_000))
    assert cal.a == pytest.approx(3.0, abs=0.15) and cal.b == pytest.approx(-1.5, abs=0.15)
    grid = np.linspace(-50, 50, 1001)
    p = cal.p_fake(grid)
    assert ((p >= 0) & (p <= 1)).all() and np.isfinite(p).all()
    assert (np.diff(p) <= 0).all() and p[0] > 0.999 and p[-1] < 0.001  # higher score, less fake
    assert cal.p_fake(0.5) == pytest.approx(0.5, abs=0.05)  # the classes' crossing point


def test_calibration_edge_cases():
    separable = fit_calibration([1.0, 2.0, 3.0], [-1.0, -2.0, -3.0])
    assert np.isfinite([separable.a, separable.b]).all() and separable.a > 0
    assert Calibration.from_dict(separable.to_dict()) == separable
    with pytest.raises(SpoofscanError, match="both classes"):
        fit_calibration([], [1.0])
    with pytest.raises(SpoofscanError, match="NaN or Inf"):
        fit_calibration([1.0, np.nan], [0.0])
    assert Calibration(a=1.0, b=0.0).p_fake(np.array([-1e6, 1e6])).tolist() == [1.0, 0.0]  # no overflow
