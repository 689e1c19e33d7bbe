"""Metrics: the official ASVspoof EER to the digit, ASVspoof 5 minDCF / actDCF / Cllr, accuracy."""

import math

import numpy as np
import pytest

from spoofscan.errors import SpoofscanError
from spoofscan.evaluation.metrics import (accuracy_at, bayes_threshold, compute_act_dcf, compute_cllr, compute_eer,
                                          compute_min_dcf, det_curve)

CHECK_BONA = [0.9, 0.8, 0.3, 0.6]
CHECK_SPOOF = [0.1, 0.4, 0.7]


def reference_eer(bona, spoof):
    """A straightforward pure-Python reading of the official ASVspoof scorers' EER rule.

    Reject the k lowest trials for k = 0..N in score order, bona fide before spoof on equal
    scores; keep the first k where |FRR - FAR| is smallest.
    """
    trials = [(s, True) for s in bona] + [(s, False) for s in spoof]
    trials.sort(key=lambda t: t[0])  # Python's sort is stable: bona fide (listed first) stay first on ties
    n_bona, n_spoof = len(bona), len(spoof)
    points = [(0.0, 1.0, trials[0][0] - 0.001)]
    bona_rejected = spoof_rejected = 0
    for score, is_bona in trials:
        if is_bona:
            bona_rejected += 1
        else:
            spoof_rejected += 1
        points.append((bona_rejected / n_bona, (n_spoof - spoof_rejected) / n_spoof, score))
    best = None
    for frr, far, threshold in points:
        if best is None or abs(frr - far) < abs(best[0] - best[1]):
            best = (frr, far, threshold)
    return (best[0] + best[1]) / 2, best[2]


def test_official_check_values():
    eer, threshold = compute_eer(CHECK_BONA, CHECK_SPOOF)
    assert round(eer * 100, 4) == 29.1667
    assert threshold == 0.4


def test_det_curve_shape_and_ends():
    frr, far, thresholds = det_curve(CHECK_BONA, CHECK_SPOOF)
    assert len(frr) == len(far) == len(thresholds) == 8
    assert (frr[0], far[0], frr[-1], far[-1]) == (0.0, 1.0, 1.0, 0.0)
    assert thresholds[0] == pytest.approx(0.1 - 0.001)
    assert list(thresholds[1:]) == sorted(CHECK_BONA + CHECK_SPOOF)
    assert np.all(np.diff(frr) >= 0) and np.all(np.diff(far) <= 0)


def test_ties_reject_bona_fide_first():
    # one bona fide and one spoof on the same score: point 1 rejects the bona fide one
    frr, far, _ = det_curve([1.0, 2.0], [1.0, 0.0])
    assert list(frr) == [0.0, 0.0, 0.5, 0.5, 1.0]
    assert list(far) == [1.0, 0.5, 0.5, 0.0, 0.0]


def test_matches_reference_on_1000_random_score_sets_with_ties():
    rng = np.random.default_rng(2024)
    for i in range(1000):
        n_bona, n_spoof = rng.integers(1, 60, size=2)
        spread = int(rng.integers(1, 12))  # few distinct values -> many ties
        shift = rng.normal(0, 3)
        bona = np.round(rng.normal(shift, 3, n_bona) * spread / 3)
        spoof = np.round(rng.normal(0, 3, n_spoof) * spread / 3)
        if i % 3 == 0:  # also decimal scores rounded to one digit
            bona, spoof = bona / 10, spoof / 10
        expected = reference_eer(bona.tolist(), spoof.tolist())
        got = compute_eer(bona, spoof)
        assert got == expected, (i, bona.tolist(), spoof.tolist())


def test_perfect_and_reversed_separation():
    eer, threshold = compute_eer([2.0, 3.0, 4.0], [0.0, 1.0])
    assert eer == 0.0 and threshold == 1.0  # the highest spoof score: reject at or below it
    assert compute_eer([0.0, 1.0], [2.0, 3.0, 4.0])[0] == 1.0


def test_invariant_to_increasing_transforms():
    rng = np.random.default_rng(7)
    for _ in range(50):
        bona = np.round(rng.normal(1, 1, 40), 1)
        spoof = np.round(rng.normal(0, 1, 30), 1)
        eer = compute_eer(bona, spoof)[0]
        assert compute_eer(np.exp(bona), np.exp(spoof))[0] == eer
        assert compute_eer(5 * bona - 3, 5 * spoof - 3)[0] == eer
        assert compute_min_dcf(np.exp(bona), np.exp(spoof))[0] == compute_min_dcf(bona, spoof)[0]


def test_min_dcf_hand_computed():
    # DET points (FRR, FAR): (0,1) (0,2/3) (1/4,2/3) (1/4,1/3) (1/2,1/3) (1/2,0) (3/4,0) (1,0);
    # cost 0.95 FRR + 0.5 FAR, divided by 0.5: smallest at (0, 2/3) -> 2/3, threshold 0.1
    min_dcf, threshold = compute_min_dcf(CHECK_BONA, CHECK_SPOOF)
    assert min_dcf == pytest.approx(2 / 3)
    assert threshold == 0.1


def test_min_dcf_bounds():
    rng = np.random.default_rng(1)
    for _ in range(20):
        value = compute_min_dcf(rng.normal(1, 1, 30), rng.normal(0, 1, 30))[0]
        assert 0.0 <= value <= 1.0  # accepting everything costs exactly 1
    assert compute_min_dcf([2.0, 3.0], [0.0, 1.0])[0] == 0.0


def test_act_dcf_hand_computed():
    assert bayes_threshold() == pytest.approx(-math.log(1.9))
    # threshold -0.642: bona fide -1 missed (1/4); spoof 0.5 accepted (1/3)
    act, threshold = compute_act_dcf([-1.0, 0.0, 1.0, 2.0], [-2.0, -1.0, 0.5])
    assert threshold == pytest.approx(-math.log(1.9))
    assert act == pytest.approx((0.95 * 0.25 + 0.5 / 3) / 0.5)
    # at the threshold: a bona fide is not missed, a spoof is accepted
    t = bayes_threshold()
    assert compute_act_dcf([t], [t])[0] == pytest.approx(1.0)
    assert compute_act_dcf([5.0], [-5.0])[0] == 0.0


def test_cllr_hand_computed():
    assert compute_cllr([0.0], [0.0]) == pytest.approx(1.0)
    assert compute_cllr([math.log(3)], [-math.log(3)]) == pytest.approx(2 - math.log2(3))
    # large LLRs stay finite and near zero / the right linear growth
    assert compute_cllr([1000.0], [-1000.0]) == pytest.approx(0.0)
    assert compute_cllr([-1000.0], [-1000.0]) == pytest.approx(0.5 * 1000 / math.log(2))


def test_accuracy_at():
    acc = accuracy_at([0.1, 0.6], [0.5, 0.4, 0.9], threshold=0.5)
    assert acc["accuracy"] == pytest.approx(3 / 5)
    assert acc["bonafide_correct"] == 0.5 and acc["spoof_correct"] == pytest.approx(2 / 3)
    assert acc["balanced_accuracy"] == pytest.approx(0.5 * (0.5 + 2 / 3))


@pytest.mark.parametrize("bona, spoof", [([], [1.0]), ([1.0], []), ([float("nan")], [1.0]), ([1.0], [float("inf")])])
def test_bad_inputs_raise(bona, spoof):
    with pytest.raises(SpoofscanError):
        compute_eer(bona, spoof)


def test_asv_error_rates_and_min_tdcf_hand_computed():
    from spoofscan.evaluation.metrics import TDCFCostModel, asv_error_rates, compute_tdcf

    # ASV EER point: target [1,2,3,4] vs non-target [0,0.5,1.5,2.5] -> EER 25 % at threshold 1.5
    asv = asv_error_rates([1.0, 2.0, 3.0, 4.0], [0.0, 0.5, 1.5, 2.5], [0.0, 1.0, 2.0, 3.0])
    assert (asv["asv_eer"], asv["asv_threshold"]) == (0.25, 1.5)
    assert (asv["pfa_asv"], asv["pmiss_asv"], asv["pmiss_spoof_asv"]) == (0.5, 0.25, 0.5)  # >= accepts, < rejects
    cost = TDCFCostModel()
    assert cost.p_tar + cost.p_non + cost.p_spoof == pytest.approx(1.0)
    c1 = 0.95 * 0.99 * (1 - 0.25) - 0.95 * 0.01 * 10 * 0.5  # 0.657875
    c2 = 10 * 0.05 * (1 - 0.5)  # 0.25
    # CM DET points as in test_min_dcf_hand_computed; the smallest C1 FRR + C2 FAR is at (0, 2/3)
    min_tdcf, threshold = compute_tdcf(CHECK_BONA, CHECK_SPOOF, asv)
    assert min_tdcf == pytest.approx(c2 * (2 / 3) / min(c1, c2))
    assert threshold == 0.1
    # hard decisions (two distinct values) are refused, as by the organisers' script
    with pytest.raises(SpoofscanError, match="soft"):
        compute_tdcf([1.0, 1.0], [0.0, 0.0], asv)
