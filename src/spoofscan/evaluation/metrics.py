"""Detection metrics exactly as the ASVspoof organisers compute them (numpy only).

Scores are read the ASVspoof way: one float per trial, **higher = more bona fide**; bona
fide is the target class. Every function takes the bona fide scores and the spoof scores
as two 1-D arrays.

- :func:`det_curve` and :func:`compute_eer`: the official EER of the ASVspoof 2019, 2021
  and 5 scorers (``compute_det_curve`` / ``compute_eer``): stable sort, bona fide first on
  ties, the first minimum of ``|FRR - FAR|``, no interpolation.
- :func:`compute_min_dcf`, :func:`compute_act_dcf`, :func:`compute_cllr`: the ASVspoof 5
  track 1 metrics as the ASVspoof 5 evaluation package (``calculate_modules.py``) computes
  them, with its cost model ``P_spoof = 0.05, C_miss = 1, C_fa = 10``.
- :func:`compute_tdcf`: the ASVspoof 2019 (legacy, version 1) normalised min t-DCF, for
  when the organisers' ASV scores are at hand (:func:`asv_error_rates`).
- :func:`accuracy_at`: accuracy and balanced accuracy of the hard decision
  ``fake when p_fake >= threshold``.

Rates are returned as fractions in [0, 1]; reports print them as percent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SpoofscanError

# ASVspoof 5 track 1 cost model (evaluation plan, and calculate_metrics.py of its package)
P_SPOOF = 0.05  # prior probability of a spoofing attack
C_MISS = 1.0  # cost of rejecting a bona fide trial
C_FA = 10.0  # cost of accepting a spoof

# Offset below the lowest score for the first DET threshold (accept everything), as in the scorers
FIRST_THRESHOLD_OFFSET = 0.001


def _scores(x, what: str) -> np.ndarray:
    """A non-empty, finite, 1-D float64 copy of ``x``."""
    a = np.asarray(x, dtype=np.float64).ravel()
    if a.size == 0:
        raise SpoofscanError(f"no {what} scores: the metric needs at least one trial of each class")
    bad = ~np.isfinite(a)
    if bad.any():
        raise SpoofscanError(f"{int(bad.sum())} {what} score(s) are NaN or infinite (first: {a[bad][0]})")
    return a


# ---------------------------------------------------------------------------- EER


def det_curve(bona, spoof) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Miss and false-alarm rates at every threshold, as the official ASVspoof scorers count them.

    The ``N = len(bona) + len(spoof)`` scores are stable-sorted ascending (mergesort; bona
    fide scores come first, so on equal scores bona fide are rejected first). Point ``k``
    (0..N) rejects the ``k`` lowest-sorted trials.

    Parameters
    ----------
    bona, spoof : 1-D arrays of scores (higher = more bona fide), at least one of each.

    Returns
    -------
    frr : (N + 1,) bona fide rejected among the first ``k`` / number of bona fide; ``frr[0] = 0``
    far : (N + 1,) spoof not among the first ``k`` / number of spoof; ``far[0] = 1``
    thresholds : (N + 1,) ``[lowest score - 0.001, sorted scores...]``: point ``k`` rejects
        scores up to and including ``thresholds[k]`` (ties split in the sort order above).
    """
    bona = _scores(bona, "bona fide")
    spoof = _scores(spoof, "spoof")
    all_scores = np.concatenate([bona, spoof])
    labels = np.concatenate([np.ones(bona.size), np.zeros(spoof.size)])
    order = np.argsort(all_scores, kind="mergesort")
    labels = labels[order]
    bona_rejected = np.cumsum(labels)
    spoof_accepted = spoof.size - (np.arange(1, all_scores.size + 1) - bona_rejected)
    frr = np.concatenate([[0.0], bona_rejected / bona.size])
    far = np.concatenate([[1.0], spoof_accepted / spoof.size])
    thresholds = np.concatenate([[all_scores[order[0]] - FIRST_THRESHOLD_OFFSET], all_scores[order]])
    return frr, far, thresholds


def compute_eer(bona, spoof) -> tuple[float, float]:
    """Equal error rate, exactly as the ASVspoof 2019/2021/5 scorers compute it.

    ``i`` = the first index of the minimum of ``|FRR - FAR|`` on :func:`det_curve`;
    EER = ``(FRR[i] + FAR[i]) / 2``, threshold = ``thresholds[i]``. No interpolation.

    Returns
    -------
    eer : fraction in [0, 1] (multiply by 100 for percent)
    threshold : the score at the EER point (trials scoring at or below it are rejected as spoof)

    Example: bona [0.9, 0.8, 0.3, 0.6], spoof [0.1, 0.4, 0.7] -> (0.291667, 0.4).
    """
    frr, far, thresholds = det_curve(bona, spoof)
    i = int(np.argmin(np.abs(frr - far)))
    return float(np.mean((frr[i], far[i]))), float(thresholds[i])


# ---------------------------------------------------------------------------- ASVspoof 5 costs


def compute_min_dcf(bona, spoof, *, p_spoof: float = P_SPOOF, c_miss: float = C_MISS,
                    c_fa: float = C_FA) -> tuple[float, float]:
    """Normalised minimum detection cost (ASVspoof 5 track 1 primary metric).

    ``min_k [C_miss (1 - P_spoof) FRR[k] + C_fa P_spoof FAR[k]] / min(C_miss (1 - P_spoof), C_fa P_spoof)``
    over the points of :func:`det_curve` (the same points as the EER, ties included), first
    minimum, as ``compute_mindcf`` of the ASVspoof 5 package. With the default costs the
    denominator is 0.5, so accepting everything costs 1.0 and minDCF is at most 1.

    Returns
    -------
    min_dcf : the normalised cost (dimensionless)
    threshold : the score at the minimum (reject at or below it, as for the EER)
    """
    frr, far, thresholds = det_curve(bona, spoof)
    p_target = 1 - p_spoof  # the package writes the priors this way; keep its floating point
    cost = c_miss * frr * p_target + c_fa * far * (1 - p_target)
    i = int(np.argmin(cost))
    return float(cost[i] / min(c_miss * p_target, c_fa * (1 - p_target))), float(thresholds[i])


def bayes_threshold(p_spoof: float = P_SPOOF, c_miss: float = C_MISS, c_fa: float = C_FA) -> float:
    """The Bayes decision threshold on bona-fide-vs-spoof LLRs: ``-ln(C_miss (1 - P_spoof) / (C_fa P_spoof))``.

    ``-ln(1.9)`` = -0.6419 with the ASVspoof 5 costs.
    """
    return float(-np.log(c_miss * (1 - p_spoof) / (c_fa * p_spoof)))


def compute_act_dcf(bona_llr, spoof_llr, *, p_spoof: float = P_SPOOF, c_miss: float = C_MISS,
                    c_fa: float = C_FA) -> tuple[float, float]:
    """Normalised actual detection cost at the Bayes threshold (ASVspoof 5 ``compute_actDCF``).

    The scores must be calibrated log-likelihood ratios (natural log, bona fide vs spoof).
    A bona fide trial is missed when its LLR is **strictly below** the threshold
    :func:`bayes_threshold` and a spoof is accepted when its LLR is at or above it (the
    package's comparisons; note this differs from the EER/minDCF thresholds, which reject
    scores *at or below* ``threshold``).

    Returns
    -------
    act_dcf : ``[C_miss (1 - P_spoof) P_miss + C_fa P_spoof P_fa] / min(C_fa P_spoof, C_miss (1 - P_spoof))``
    threshold : the Bayes threshold used, in LLR units
    """
    bona = _scores(bona_llr, "bona fide")
    spoof = _scores(spoof_llr, "spoof")
    threshold = bayes_threshold(p_spoof, c_miss, c_fa)
    p_miss = np.sum(bona < threshold) / bona.size
    p_fa = np.sum(spoof >= threshold) / spoof.size
    cost = c_miss * (1 - p_spoof) * p_miss + c_fa * p_spoof * p_fa
    return float(cost / min(c_fa * p_spoof, c_miss * (1 - p_spoof))), threshold


def compute_cllr(bona_llr, spoof_llr) -> float:
    """Log-likelihood-ratio cost in bits (ASVspoof 5 ``calculate_CLLR``).

    ``Cllr = 0.5 (mean log2(1 + e^-s) over bona fide + mean log2(1 + e^s) over spoof)`` for
    LLRs ``s`` in natural-log units. 0 is perfect, 1 is what a system that always outputs 0
    gets; above 1 the scores are miscalibrated.

    Divergence from the package: it evaluates ``log(1 + exp(x))`` directly, which overflows
    to infinity for scores above ~709; this uses ``logaddexp(0, x)``, the same value
    wherever the package's is finite.
    """
    bona = _scores(bona_llr, "bona fide")
    spoof = _scores(spoof_llr, "spoof")
    return float(0.5 * (np.mean(np.logaddexp(0.0, -bona)) + np.mean(np.logaddexp(0.0, spoof))) / np.log(2))


# ---------------------------------------------------------------------------- t-DCF (ASVspoof 2019)


@dataclass(frozen=True)
class TDCFCostModel:
    """The ASVspoof 2019 t-DCF cost model (the organisers' ``evaluate_tDCF_asvspoof19.py``, version 1).

    p_spoof, p_tar, p_non : priors of a spoof, a target and a non-target trial (sum to 1)
    c_miss_asv, c_fa_asv : costs of the ASV rejecting a target / accepting a non-target
    c_miss_cm, c_fa_cm : costs of the CM rejecting a bona fide trial / passing a spoof
    """

    p_spoof: float = 0.05
    p_tar: float = (1 - 0.05) * 0.99
    p_non: float = (1 - 0.05) * 0.01
    c_miss_asv: float = 1.0
    c_fa_asv: float = 10.0
    c_miss_cm: float = 1.0
    c_fa_cm: float = 10.0


def asv_error_rates(target, nontarget, spoof) -> dict:
    """Error rates of the organisers' ASV system at its own EER threshold (target vs non-target).

    Parameters
    ----------
    target, nontarget, spoof : 1-D arrays of ASV scores of target, zero-effort non-target and
        spoof trials (the ``target`` / ``nontarget`` / ``spoof`` rows of an ASVspoof 2019 ASV
        score file)

    Returns
    -------
    dict with ``asv_eer``, ``asv_threshold``, ``pfa_asv`` (non-targets at or above the
    threshold), ``pmiss_asv`` (targets below it) and ``pmiss_spoof_asv`` (spoofs below it),
    counted as the organisers' ``obtain_asv_error_rates`` does.
    """
    target = _scores(target, "ASV target")
    nontarget = _scores(nontarget, "ASV non-target")
    spoof = _scores(spoof, "ASV spoof")
    eer, threshold = compute_eer(target, nontarget)
    return {"asv_eer": eer, "asv_threshold": threshold,
            "pfa_asv": float(np.sum(nontarget >= threshold) / nontarget.size),
            "pmiss_asv": float(np.sum(target < threshold) / target.size),
            "pmiss_spoof_asv": float(np.sum(spoof < threshold) / spoof.size)}


def compute_tdcf(bona, spoof, asv: dict, cost: TDCFCostModel = TDCFCostModel()) -> tuple[float, float]:
    """Normalised minimum t-DCF of a CM in tandem with a fixed ASV (ASVspoof 2019 LA, legacy formula).

    ``C1 = P_tar (C_miss_cm - C_miss_asv Pmiss_asv) - P_non C_fa_asv Pfa_asv``,
    ``C2 = C_fa_cm P_spoof (1 - Pmiss_spoof_asv)``; t-DCF(k) = ``C1 FRR[k] + C2 FAR[k]`` over the
    points of :func:`det_curve`, divided by ``min(C1, C2)``; the first minimum is returned.
    Above 1 the CM makes the tandem worse than no CM at all.

    This is the version-1 formula the ASVspoof 2019 challenge ranked by. ASVspoof 2021 LA
    uses a revised t-DCF (with its own ASV scores and normalisation) that this does not
    compute, and ASVspoof 5 replaced t-DCF by minDCF.

    Parameters
    ----------
    bona, spoof : CM scores (higher = more bona fide)
    asv : :func:`asv_error_rates` of the organisers' ASV scores
    cost : the cost model (the 2019 one by default)

    Returns
    -------
    min_tdcf : the normalised minimum t-DCF
    threshold : the CM score at the minimum (reject at or below it)
    """
    if np.unique(np.concatenate([_scores(bona, "bona fide"), _scores(spoof, "spoof")])).size < 3:
        raise SpoofscanError("t-DCF needs soft CM scores (at least 3 distinct values), not hard decisions")
    frr, far, thresholds = det_curve(bona, spoof)
    c1 = cost.p_tar * (cost.c_miss_cm - cost.c_miss_asv * asv["pmiss_asv"]) - cost.p_non * cost.c_fa_asv * asv["pfa_asv"]
    c2 = cost.c_fa_cm * cost.p_spoof * (1 - asv["pmiss_spoof_asv"])
    if c1 <= 0 or c2 <= 0:
        raise SpoofscanError(f"t-DCF weights must be positive (C1 = {c1:.4g}, C2 = {c2:.4g}); "
                             "check the ASV scores (does every ASV class have trials?)")
    tdcf = (c1 * frr + c2 * far) / min(c1, c2)
    i = int(np.argmin(tdcf))
    return float(tdcf[i]), float(thresholds[i])


# ---------------------------------------------------------------------------- hard decisions


def accuracy_at(bona_p_fake, spoof_p_fake, threshold: float = 0.5) -> dict:
    """Accuracy of the decision ``fake when p_fake >= threshold``.

    Parameters
    ----------
    bona_p_fake, spoof_p_fake : 1-D arrays of calibrated probabilities of fake, per class
    threshold : p_fake at or above which a trial is called fake

    Returns
    -------
    dict with ``threshold``, ``accuracy`` (share of all trials right), ``balanced_accuracy``
    (mean of the two per-class rates, so the class sizes do not matter), ``bonafide_correct``
    (share of bona fide called real) and ``spoof_correct`` (share of spoof called fake).
    """
    bona = _scores(bona_p_fake, "bona fide")
    spoof = _scores(spoof_p_fake, "spoof")
    bona_ok = int(np.sum(bona < threshold))
    spoof_ok = int(np.sum(spoof >= threshold))
    bona_rate, spoof_rate = bona_ok / bona.size, spoof_ok / spoof.size
    return {
        "threshold": float(threshold),
        "accuracy": (bona_ok + spoof_ok) / (bona.size + spoof.size),
        "balanced_accuracy": 0.5 * (bona_rate + spoof_rate),
        "bonafide_correct": bona_rate,
        "spoof_correct": spoof_rate,
    }
