"""spoofscan.corpus.quality: the fakes' quality proxies (MCD after DTW, DNSMOS) and `corpus quality`."""

from __future__ import annotations

import json
from itertools import product

import numpy as np
import pytest
import soundfile as sf
from helpers import one_line_error
from synth import voiced_clip

from spoofscan.cli import main
from spoofscan.corpus.quality import Dnsmos, dtw_mean_cost, mcd_db, measure_quality, quality_table

RATE = 16_000


def brute_force_dtw(cost: np.ndarray) -> float:
    """The cheapest path's weighted cost over n + m by plain dynamic programming (steps 1, 1, diagonal 2)."""
    n, m = cost.shape
    d = np.full((n, m), np.inf)
    for i, j in product(range(n), range(m)):
        if i == j == 0:
            d[i, j] = 2 * cost[0, 0]
            continue
        d[i, j] = min(d[i - 1, j] + cost[i, j] if i else np.inf, d[i, j - 1] + cost[i, j] if j else np.inf,
                      d[i - 1, j - 1] + 2 * cost[i, j] if i and j else np.inf)
    return d[-1, -1] / (n + m)


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (6, 1), (7, 4), (9, 12)])
def test_row_wise_dtw_equals_plain_dynamic_programming(shape):
    rng = np.random.default_rng(sum(shape))
    cost = rng.uniform(0, 3, shape)
    assert dtw_mean_cost(cost) == pytest.approx(brute_force_dtw(cost), rel=1e-12)


def test_mcd_is_zero_for_the_same_clip_small_for_a_delayed_copy_and_large_for_a_muffled_noisy_one():
    x = voiced_clip(1.5, seed=3)
    delayed = np.concatenate([np.zeros(1600, np.float32), x])  # leading silence is trimmed, time is warped
    rng = np.random.default_rng(0)
    muffled = np.convolve(x, np.ones(16) / 16, mode="same") + 0.05 * rng.standard_normal(len(x))
    assert mcd_db(x, x) == pytest.approx(0.0, abs=1e-6)
    assert mcd_db(x, delayed) < 1.0
    assert mcd_db(x, muffled.astype(np.float32)) > 3.0 + mcd_db(x, delayed)


def _fake_corpus(root, pairs_per_engine: int = 3):
    """A folder as `corpus build` leaves it (audio and build_state.jsonl): engine 'same' copies each
    real clip, engine 'noisy' adds noise to it; one failed pair and one spliced clip, both ignored."""
    rng = np.random.default_rng(1)
    (root / "audio").mkdir(parents=True)
    lines = [{"job": "failed", "rows": [], "error": "no generator"}]
    for k in range(pairs_per_engine * 2):
        engine = "same/a" if k % 2 == 0 else "noisy/b"
        real = voiced_clip(1.0 + 0.1 * k, seed=k)
        fake = real if engine == "same/a" else real + 0.1 * rng.standard_normal(len(real)).astype(np.float32)
        rows = []
        for label, name, x, generator in (("bonafide", f"r{k}", real, "-"), ("spoof", f"f{k}", fake, engine),
                                          ("spoof", f"p{k}", fake, engine)):
            sf.write(root / "audio" / f"{name}.flac", x, RATE)
            rows.append({"trial": name, "path": f"audio/{name}.flac", "label": label, "generator": generator,
                         "kind": "partial" if name.startswith("p") else ("-" if label == "bonafide" else "copy"),
                         "pair": f"r{k}"})
        lines.append({"job": f"j{k}", "rows": rows, "error": None})
    (root / "build_state.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    return root


def test_measure_quality_rows_per_engine_and_the_cli_table(tmp_path, capsys, monkeypatch):
    import spoofscan.corpus.quality as quality

    monkeypatch.setattr(quality.Dnsmos, "installed", classmethod(lambda cls: None))  # MCD only: fast
    corpus = _fake_corpus(tmp_path / "corpus")
    rows = measure_quality(corpus, per_group=2, progress=False)
    assert [(r.group, r.kind, r.clips) for r in rows] == [("real", "-", 4), ("noisy/b", "copy", 2),
                                                          ("same/a", "copy", 2)]
    assert rows[2].mcd_db == pytest.approx(0.0, abs=1e-6) and rows[1].mcd_db > 1.0
    assert rows[0].dnsmos_sig is None and "| same/a | copy | 2 | - | - | 0.00 |" in quality_table(rows).replace("  ", " ")
    assert [r.group for r in measure_quality(corpus, group_by="family", progress=False)] == ["real", "noisy", "same"]

    assert main(["corpus", "quality", str(corpus), "--per-engine", "3", "--quiet", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["clips"] for r in out] == [6, 3, 3] and set(out[0]) == {"group", "kind", "clips", "dnsmos_sig",
                                                                      "dnsmos_ovrl", "mcd_db"}
    assert main(["corpus", "quality", str(corpus), "--quiet"]) == 0
    assert "DNSMOS columns empty" in capsys.readouterr().out
    assert "--per-engine must be >= 1, got 0" in one_line_error(capsys, ["corpus", "quality", str(corpus),
                                                                         "--per-engine", "0"])
    assert "no built pairs" in one_line_error(capsys, ["corpus", "quality", str(tmp_path)])


def test_dnsmos_rates_a_clean_voice_above_the_same_voice_in_loud_noise():
    dnsmos = Dnsmos.installed()
    if dnsmos is None:
        pytest.skip("the speechmos wheel (corpus extra) is not installed")
    x = voiced_clip(3.0, seed=0)
    noisy = x + 0.3 * np.random.default_rng(0).standard_normal(len(x)).astype(np.float32)
    clean, bad = dnsmos.score(x), dnsmos.score(noisy)
    assert set(clean) == {"sig", "bak", "ovrl"} and all(1.0 <= v <= 5.0 for v in clean.values())
    assert clean["bak"] > bad["bak"] + 0.25 and clean["ovrl"] > bad["ovrl"]
