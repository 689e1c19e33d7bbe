"""The whole quickstart path on the tiny corpus: build, audit, train, evaluate, predict.

Needs apt-get + dpkg-deb (to fetch the Asterisk prompts: marked ``network``), espeak-ng, pyworld and
pysptk; CI installs them. It takes about a minute on 2 cores (marked ``slow``).
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
from helpers import BATCH_RTOL

from spoofscan.corpus import SIZES
from spoofscan.corpus.generators.lpc import LpcGenerator
from spoofscan.corpus.generators.world import WorldGenerator

MISSING = [p for p in ("apt-get", "dpkg-deb", "espeak-ng") if shutil.which(p) is None]
if not WorldGenerator().is_available():
    MISSING.append("pyworld")
if not LpcGenerator().is_available():
    MISSING.append("pysptk")

pytestmark = [pytest.mark.slow, pytest.mark.network,
              pytest.mark.skipif(bool(MISSING), reason=f"needs {', '.join(MISSING)} (CI installs them)")]


def test_quickstart_tiny_end_to_end(tmp_path, capsys):
    import spoofscan
    from spoofscan.cli import main

    out = tmp_path / "qs"
    cache = os.environ.get("SPOOFSCAN_CACHE", "")  # share downloads with other runs when set
    args = ["quickstart", "--size", "tiny", "--out", str(out), "--jobs", "2", "--device", "cpu", "--quiet"]
    assert main(args + (["--cache", cache] if cache else [])) == 0
    printed = capsys.readouterr().out
    for step in ("[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]", "eval EER", "next:", "spoofscan predict"):
        assert step in printed

    result = json.loads((out / "quickstart.json").read_text())
    assert result["checkpoint"] == str(out / "best.safetensors")  # where the README says it is
    assert set(result["timings"]) == {"corpus", "audit", "train", "evaluate", "predict", "total"}
    for name in ("report.json", "report.md", "det.png", "hist.png", "scores.txt"):
        assert (out / "eval" / name).is_file()
    report = json.loads((out / "eval" / "report.json").read_text())
    assert report["counts"]["bonafide"] == report["counts"]["spoof"] > 0
    assert set(result["per_generator"]) <= set(SIZES["tiny"].eval_generators) and result["per_generator"]
    assert 0.0 <= result["eval_eer"] <= 1.0 and 0.0 <= result["dev_eer"] <= 1.0
    assert [p["truth"] for p in result["predictions"]] == ["real", "fake"]
    assert all(p["label"] in ("real", "fake", "partly fake") and 0 <= p["p_fake"] <= 1 for p in result["predictions"])
    assert (out / "corpus" / "shortcut_audit.md").is_file() and (out / "corpus" / "ATTRIBUTION.md").is_file()

    detector = spoofscan.load_detector(result["checkpoint"], device="cpu")  # the checkpoint works on its own
    again = detector.predict(result["predictions"][1]["path"])  # another detector object, maybe other batches
    assert again.score == pytest.approx(result["predictions"][1]["score"], rel=BATCH_RTOL, abs=1e-5)
