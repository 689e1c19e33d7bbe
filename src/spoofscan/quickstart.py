"""Quickstart: from a fresh machine to a trained, evaluated detector and a verdict, in one call.

``run_quickstart(size="small")`` (CLI: ``spoofscan quickstart``) runs five steps, each with
progress output, and writes ``quickstart.json`` (paths, figures, the wall time of every step)
into its folder:

1. build the offline corpus (:func:`spoofscan.corpus.build_corpus`) in ``OUT/corpus``;
2. audit it for shortcuts (:func:`spoofscan.corpus.audit.audit_corpus`);
3. train on its ``train`` split, choosing the best epoch on ``dev`` (:func:`spoofscan.training.fit`);
4. evaluate the best checkpoint on ``eval`` (speakers and generators unseen in training):
   EER overall and per generator, DET curve, histograms (:func:`spoofscan.evaluation.evaluate.evaluate`);
5. predict one real and one fake eval clip with the public API (:func:`spoofscan.load_detector`).

Each size builds the corpus of that size and trains a recipe of :mod:`spoofscan.recipes`
(:data:`RECIPES`), chosen to fit a 2-core CPU: ``tiny`` (CI) trains the ``ci`` recipe in well under
a minute, ``small`` the ``quick`` recipe (ResNet-18's layout at half its width, 6 epochs, about
five minutes), ``full`` the ``long`` recipe (ResNet-18, 20 epochs). Crops are 2 s (the clips are
short words and sentences).
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from .errors import SpoofscanError, choice_error
from .fileio import atomic_write_text

RESULT_FILE = "quickstart.json"
RECIPES = {"tiny": "ci", "small": "quick", "full": "long"}  # quickstart size (= corpus size) -> training recipe


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
                   device: str = "auto", recipe: Optional[str] = None, model: Optional[str] = None,
                   epochs: Optional[int] = None, augment: Optional[str] = None,
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
    recipe : train this recipe of :mod:`spoofscan.recipes` instead of the size's (:data:`RECIPES`),
        e.g. ``whisper-base`` (needs the ``encoder`` extra)
    model, epochs, augment : override the recipe's (``model``: a preset name of
        :data:`spoofscan.models.MODEL_PRESETS`; ``augment``: of :data:`spoofscan.augment.AUGMENT_PRESETS`)
    cache_dir : where Debian packages are downloaded (default ``~/.cache/spoofscan``)
    progress : progress bars; ``log`` receives the step headers and the summary (default: print)

    A rerun reuses the built corpus; training starts afresh (the previous run's checkpoints
    in ``out`` are replaced).
    """
    from . import load_detector
    from .corpus import CorpusConfig, build_corpus
    from .corpus.audit import audit_corpus

    settings = training_settings(size, recipe, model=model, epochs=epochs, augment=augment)  # bad names fail now
    log = log or (lambda msg: print(msg, flush=True))
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    timings: dict = {}
    started = time.perf_counter()

    with _step(1, f"building the {size} corpus in {out / 'corpus'}", "corpus", timings, log):
        manifest = build_corpus(CorpusConfig.from_dict({"out": str(out / "corpus"), "size": size, "jobs": jobs,
                                                        "cache_dir": cache_dir, "seed": seed, "progress": progress}))
    with _step(2, "shortcut audit: can one trivial number tell real from fake?", "audit", timings, log):
        audit = audit_corpus(manifest.parent, progress=progress)
        log(audit.table())
        if not audit.passed:
            log("warning: the corpus has a shortcut (see above); the detector may learn it instead of real cues")
    with _step(3, f"training {settings['model']} ({settings['recipe']} recipe) on the train split (best epoch chosen "
                  "on dev)", "train", timings, log):
        trained, dev_eer = _train(manifest, out, {**settings, "seed": seed, "device": device, "progress": progress},
                                  log)
    with _step(4, "evaluating on the eval split (speakers and generators unseen in training)", "evaluate",
               timings, log):
        detector = load_detector(trained.checkpoint, device=device)
        records, eval_eer, per_generator = _evaluate(detector, manifest, out / "eval", progress, log)
    with _step(5, "predicting one real and one fake eval clip", "predict", timings, log):
        predictions = _predict_examples(detector, records, log)
    timings["total"] = time.perf_counter() - started

    result = QuickstartResult(out, manifest, trained.checkpoint, out / "eval", eval_eer, dev_eer, per_generator,
                              audit, predictions, {k: round(v, 1) for k, v in timings.items()})
    atomic_write_text(out / RESULT_FILE, json.dumps(result.to_dict(), indent=2) + "\n")
    log(summary_text(result))
    return result


def training_settings(size: str, recipe: Optional[str] = None, **overrides) -> dict:
    """The TrainConfig fields a quickstart size trains with: those of ``recipe`` (default: the size's,
    :data:`RECIPES`), with the ``overrides`` that are not None (``model``, ``epochs``, ``augment``);
    names are checked here, before any work."""
    from .augment import augment_config
    from .models import model_preset
    from .recipes import load_recipe

    if size not in RECIPES:
        raise choice_error("quickstart size", size, RECIPES)
    recipe = recipe or RECIPES[size]
    settings = {**load_recipe(recipe), **{k: v for k, v in overrides.items() if v is not None}, "recipe": recipe}
    model_preset(settings["model"])
    augment_config(settings["augment"])
    return settings


@contextmanager
def _step(number: int, title: str, key: str, timings: dict, log: Callable[[str], None]):
    """Announce step ``number`` of five; its seconds go to ``timings[key]``."""
    log(f"\n[{number}/5] {title}")
    t = time.perf_counter()
    yield
    timings[key] = time.perf_counter() - t


def _train(manifest: Path, out: Path, settings: dict, log: Callable[[str], None]) -> tuple:
    """Step 3: train ``settings`` (TrainConfig fields: the recipe and its changes) on the manifest's
    train split into ``out`` (the best epoch chosen on dev), replacing a previous run's checkpoints
    there. Returns the :class:`~spoofscan.training.TrainResult` and the best epoch's dev EER (a fraction)."""
    from .training import TrainConfig, fit

    run_dir = out  # the checkpoint lands at OUT/best.safetensors (runs/quickstart/best.safetensors)
    for stale in ("state.pt", "best.safetensors", "last.safetensors"):
        (run_dir / stale).unlink(missing_ok=True)
    cfg = TrainConfig.from_dict({**settings, "train": f"csv:{manifest}:train", "dev": f"csv:{manifest}:dev",
                                 "out": str(run_dir)})
    trained = fit(cfg)
    if not trained.checkpoint.is_file():
        raise SpoofscanError(f"training wrote no checkpoint in {run_dir}")
    dev_eer = float(trained.metrics.get("dev_eer", float("nan")))
    log(f"best epoch {trained.best_epoch}: dev EER {100 * dev_eer:.2f} % -> {trained.checkpoint}")
    return trained, dev_eer


def _evaluate(detector, manifest: Path, report_dir: Path, progress: bool, log: Callable[[str], None]):
    """Step 4: the eval split's records, its EER (a fraction) and the EER per generator."""
    from .datasets import load_records
    from .evaluation.evaluate import evaluate

    records = load_records(f"csv:{manifest}:eval")
    report = evaluate(detector, records, report_dir, progress=progress)
    eval_eer = float(report["metrics"]["eer"])
    per_generator = {row["value"]: row["eer"] for row in report["groups"].get("generator", {}).get("values", [])}
    log(f"eval EER {100 * eval_eer:.2f} % on {report['counts']['trials']} clips")
    for name, eer in sorted(per_generator.items()):
        log(f"  {name:<22} EER {100 * eer:6.2f} %")
    return records, eval_eer, per_generator


def _predict_examples(detector, records: list, log: Callable[[str], None]) -> list:
    """Step 5: the verdicts on the first real and the first fake eval clip, one dict each."""
    from .labels import BONAFIDE, HUMAN_LABEL

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
    return predictions


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
