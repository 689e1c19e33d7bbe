"""Quickstart: from a fresh machine to a trained, evaluated detector and a verdict, in one call.

``run_quickstart(size="small")`` (CLI: ``spoofscan quickstart``) runs five steps, each with
progress output, and writes ``quickstart.json`` (paths, figures, the wall time of every step)
into its folder:

1. build the offline corpus (:func:`spoofscan.corpus.build_corpus`) in ``OUT/corpus``;
2. audit it for shortcuts (:func:`spoofscan.corpus.audit.audit_corpus`);
3. train on its ``train`` split, choosing the best epoch on ``dev`` (:func:`spoofscan.training.loop.fit`);
4. evaluate the best checkpoint on ``eval`` (speakers and generators unseen in training):
   EER overall and per generator, DET curve, histograms (:func:`spoofscan.evaluation.evaluate.evaluate`);
5. predict one real and one fake eval clip with the public API (:func:`spoofscan.load_detector`).

Training settings per size (:data:`PRESETS`) are chosen to fit a 2-core CPU: ``tiny`` (CI)
trains the ``tiny`` model for a few epochs in well under a minute, ``small`` trains the
``small`` model (ResNet-18's layout at a quarter of its width) for 6 epochs, about five
minutes, and ``full`` ResNet-18 for 20. Crops are 2 s (the clips are short words and sentences).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from .errors import SpoofscanError, choice_error
from .fileio import atomic_write_text

WINDOW_SECONDS = 2.0  # training crop / inference window of the quickstart models
HOP_SECONDS = 1.0
RESULT_FILE = "quickstart.json"


@dataclass(frozen=True)
class Preset:
    """Training settings of one quickstart size. ``augment`` is a preset name of
    :data:`spoofscan.augment.AUGMENT_PRESETS` (``off``: none)."""

    model: str
    epochs: int
    batch_size: int
    lr: float
    augment: str = "off"


PRESETS = {
    "tiny": Preset("tiny", epochs=6, batch_size=8, lr=3e-3),
    # small: the recipe chosen in docs/GENERALIZATION.md (the small preset trains about 3x faster
    # per step than ResNet-18 on 2 cores and measured no worse there; augmentation measured worse)
    "small": Preset("small", epochs=6, batch_size=32, lr=1e-3),
    "full": Preset("resnet18", epochs=20, batch_size=32, lr=1e-3),
}


@dataclass
class QuickstartResult:
    """Where everything is and what it measured.

    timings : seconds per step (``corpus``, ``audit``, ``train``, ``evaluate``, ``predict``, ``total``)
    eval_eer, dev_eer : fractions; per_generator : generator -> eval EER (fraction)
    audit : the :class:`~spoofscan.corpus.audit.AuditReport`; predictions : one dict per clip
    """

    out: Path
    manifest: Path
    checkpoint: Path
    report_dir: Path
    eval_eer: float
    dev_eer: float
    per_generator: dict
    audit: object
    predictions: list
    timings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"out": str(self.out), "manifest": str(self.manifest), "checkpoint": str(self.checkpoint),
                "report_dir": str(self.report_dir), "eval_eer": self.eval_eer, "dev_eer": self.dev_eer,
                "per_generator": self.per_generator, "audit": self.audit.to_dict(), "predictions": self.predictions,
                "timings": self.timings}


def run_quickstart(size: str = "small", out: str | Path = "runs/quickstart", *, jobs: int = 0,
                   device: str = "auto", model: Optional[str] = None, epochs: Optional[int] = None,
                   augment: Optional[str] = None,
                   cache_dir: str = "", seed: int = 0,
                   progress: bool = True, log: Callable[[str], None] | None = None) -> QuickstartResult:
    """Build, audit, train, evaluate and predict (see the module docstring).

    Parameters
    ----------
    size : ``tiny``, ``small`` or ``full`` (corpus size and training preset)
    out : folder for everything: ``corpus/``, the training run (``best.safetensors``,
        ``metrics.csv``...), ``eval/``, ``quickstart.json``
    jobs : corpus-building processes (0: one per CPU)
    device : training and scoring device (``auto``, ``cpu``, ``cuda``...)
    model, epochs, augment : override the size's training preset (``augment``: a preset name
        of :data:`spoofscan.augment.AUGMENT_PRESETS`)
    cache_dir : where Debian packages are downloaded (default ``~/.cache/spoofscan``)
    progress : progress bars; ``log`` receives the step headers and the summary (default: print)

    A rerun reuses the built corpus; training starts afresh (the previous run's checkpoints
    in ``out`` are replaced).
    """
    from . import load_detector
    from .augment import augment_config
    from .corpus import CorpusConfig, build_corpus
    from .corpus.audit import audit_corpus
    from .datasets import load_records
    from .evaluation.evaluate import evaluate
    from .frontend.config import FeatureConfig
    from .labels import BONAFIDE, HUMAN_LABEL
    from .training.loop import TrainConfig, fit

    if size not in PRESETS:
        raise choice_error("quickstart size", size, PRESETS)
    log = log or (lambda msg: print(msg, flush=True))
    preset = PRESETS[size]
    augment_settings = augment_config(augment or preset.augment)  # a bad name fails now, not after the corpus
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    timings: dict = {}
    started = time.perf_counter()

    def step(number: int, title: str) -> float:
        log(f"\n[{number}/5] {title}")
        return time.perf_counter()

    t = step(1, f"building the {size} corpus in {out / 'corpus'}")
    manifest = build_corpus(CorpusConfig.from_dict({"out": str(out / "corpus"), "size": size, "jobs": jobs,
                                                    "cache_dir": cache_dir, "seed": seed, "progress": progress}))
    timings["corpus"] = time.perf_counter() - t

    t = step(2, "shortcut audit: can one trivial number tell real from fake?")
    audit = audit_corpus(manifest.parent, progress=progress)
    log(audit.table())
    if not audit.passed:
        log("warning: the corpus has a shortcut (see above); the detector may learn it instead of real cues")
    timings["audit"] = time.perf_counter() - t

    t = step(3, f"training {model or preset.model} on the train split (best epoch chosen on dev)")
    run_dir = out  # the checkpoint lands at OUT/best.safetensors (runs/quickstart/best.safetensors)
    for stale in ("state.pt", "best.safetensors", "last.safetensors"):
        (run_dir / stale).unlink(missing_ok=True)
    cfg = TrainConfig(train=f"csv:{manifest}:train", dev=f"csv:{manifest}:dev", out=str(run_dir),
                      model=model or preset.model, epochs=epochs or preset.epochs, batch_size=preset.batch_size,
                      lr=preset.lr, augment=augment_settings, num_workers=1, seed=seed, device=device,
                      features=FeatureConfig(window_seconds=WINDOW_SECONDS, hop_seconds=HOP_SECONDS),
                      progress=progress)
    trained = fit(cfg)
    if not trained.checkpoint.is_file():
        raise SpoofscanError(f"training wrote no checkpoint in {run_dir}")
    dev_eer = float(trained.metrics.get("dev_eer", float("nan")))
    log(f"best epoch {trained.best_epoch}: dev EER {100 * dev_eer:.2f} % -> {trained.checkpoint}")
    timings["train"] = time.perf_counter() - t

    t = step(4, "evaluating on the eval split (speakers and generators unseen in training)")
    detector = load_detector(trained.checkpoint, device=device)
    records = load_records(f"csv:{manifest}:eval")
    report = evaluate(detector, records, out / "eval", progress=progress)
    eval_eer = float(report["metrics"]["eer"])
    per_generator = {row["value"]: row["eer"] for row in report["groups"].get("generator", {}).get("values", [])}
    log(f"eval EER {100 * eval_eer:.2f} % on {report['counts']['trials']} clips")
    for name, eer in sorted(per_generator.items()):
        log(f"  {name:<22} EER {100 * eer:6.2f} %")
    timings["evaluate"] = time.perf_counter() - t

    t = step(5, "predicting one real and one fake eval clip")
    picks = [next(r for r in records if r.label == BONAFIDE), next(r for r in records if r.label != BONAFIDE)]
    predictions = []
    for record in picks:
        p = detector.predict(record.path)
        truth = HUMAN_LABEL[record.label]
        predictions.append({"path": record.path, "truth": truth, "label": p.label, "p_fake": p.p_fake,
                            "score": p.score, "generator": record.groups.get("generator", "-")})
        verdict = f"p_fake {p.p_fake:.3f}, score {p.score:.3f}" if p.score is not None else f"speech {p.speech:.2f}"
        log(f"  {Path(record.path).name}: {p.label} ({verdict}); truly {truth}"
            f"{'' if record.label == BONAFIDE else ' (' + record.groups.get('generator', '?') + ')'}")
    timings["predict"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - started

    result = QuickstartResult(out, manifest, trained.checkpoint, out / "eval", eval_eer, dev_eer, per_generator,
                              audit, predictions, {k: round(v, 1) for k, v in timings.items()})
    atomic_write_text(out / RESULT_FILE, json.dumps(result.to_dict(), indent=2) + "\n")
    log(summary_text(result))
    return result


def summary_text(result: QuickstartResult) -> str:
    """What was made, where, and the commands to try next."""
    ckpt, manifest, report = result.checkpoint, result.manifest, result.report_dir
    example = result.predictions[-1]["path"] if result.predictions else "YOUR_FILE.wav"
    times = ", ".join(f"{k} {v:.0f} s" for k, v in result.timings.items())
    return f"""
done in {result.timings.get('total', 0):.0f} s ({times})
  eval EER    {100 * result.eval_eer:.2f} % (unseen speakers and generators); dev EER {100 * result.dev_eer:.2f} %
  checkpoint  {ckpt}
  report      {report / 'report.md'} (+ report.json, scores.txt)
  plots       {report / 'det.png'}, {report / 'hist.png'}
  corpus      {manifest} ({manifest.parent / 'ATTRIBUTION.md'}, {manifest.parent / 'shortcut_audit.md'})

next:
  spoofscan predict {example} --model {ckpt}
  spoofscan predict YOUR_RECORDINGS/ --model {ckpt} --format csv
  spoofscan info {ckpt}
  spoofscan evaluate --model {ckpt} --protocol csv:{manifest}:eval --out {result.out / 'eval-again'}
  spoofscan train --train csv:{manifest}:train --dev csv:{manifest}:dev --out runs/mine --epochs 20
"""
