"""How good are the corpus's own neural vocoders, `draft` (small corpus) against `quality` (full corpus)?

Copy-synthesis of the same real clips by every in-house vocoder the ``small`` and ``full`` builds
use that is already trained (in the cache: ``~/.cache/spoofscan/vocoders``), measured as
``spoofscan corpus quality`` measures a built corpus's engines: DNSMOS P.835 (SIG, OVRL) of the
copy and of the real clip, and the mel-cepstral distortion of the copy against the real clip.
The clips are a seeded draw from the eval split of both plans (unseen speakers: no vocoder
trained on them), peak-normalised as the vocoders are trained.

It answers before a ``full`` build ends what ``spoofscan corpus quality data/corpus-full --by family``
answers after it, and it compares the two budgets on the same clips.

    python experiments/vocoder_quality.py [--clips 30] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np

from spoofscan.audio import SAMPLE_RATE, resample
from spoofscan.corpus import CorpusConfig, plan_corpus
from spoofscan.corpus.quality import Dnsmos, mcd_db
from spoofscan.corpus.sources import read_real
from spoofscan.vocoder import load_vocoder, vocode
from spoofscan.vocoder.train import PEAK


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    plans = {size: plan_corpus(CorpusConfig.from_dict({"out": "/nonexistent", "size": size}), log=lambda msg: None)
             for size in ("small", "full")}
    split_in_small = {p.clip.key: p.split for p in plans["small"].pairs}
    unseen = [p.clip for p in plans["full"].pairs
              if p.split == "eval" and split_in_small.get(p.clip.key, "eval") == "eval"
              and all(p.clip.key not in plan.held for plan in plans.values())]
    order = np.random.default_rng(args.seed).permutation(len(unseen))[:args.clips]
    chosen = [unseen[i] for i in sorted(order)]
    vocoders = {f"{family} ({plan_cfg})": load_vocoder(job.weights)[0]
                for size, plan_cfg in (("small", "draft"), ("full", "quality"))
                for family, job in sorted(plans[size].vocoders.items()) if job.weights.is_file()}
    dnsmos = Dnsmos.installed()
    if dnsmos is None:
        raise SystemExit("DNSMOS needs the speechmos wheel (pip install 'spoofscan[corpus]')")
    scores = {name: [] for name in ["real", *vocoders]}
    for clip in chosen:
        x, rate = read_real(clip)
        x = resample(x, rate, SAMPLE_RATE).astype(np.float32)
        x *= PEAK / max(1e-6, float(np.abs(x).max()))
        s = dnsmos.score(x)
        scores["real"].append((s["sig"], s["ovrl"], 0.0))
        for name, model in vocoders.items():
            y = vocode(model, x)
            s = dnsmos.score(y)
            scores[name].append((s["sig"], s["ovrl"], mcd_db(x, y)))
    print(f"{len(chosen)} eval clips of the full plan, unseen by every vocoder (sources: "
          f"{', '.join(sorted({c.source for c in chosen}))})\n")
    print("| vocoder (recipe) | clips | DNSMOS SIG | DNSMOS OVRL | MCD (dB) |\n|---|---:|---:|---:|---:|")
    for name, rows in scores.items():
        sig, ovrl, mcd = np.mean(rows, axis=0)
        print(f"| {name} | {len(rows)} | {sig:.2f} | {ovrl:.2f} | {mcd:.2f} |")


if __name__ == "__main__":
    main()
