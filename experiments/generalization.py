"""Measure generalisation inside the project: leave-out folds and channel robustness.

For one training recipe (a TrainConfig YAML) and each seed, this trains

- once on the whole offline corpus (fold ``all``), evaluates on its eval split (EER per fake
  family) and runs the robustness report (EER under each channel condition);
- once per fold that leaves something out of training (see ``folds.py``: a fake family, a kind
  of fake, a real-speech source, or a source and a family together: a *cross* fold), and
  evaluates on that fold's eval split: the EER on what was left out is the EER on something the
  model never saw. ``--checkpoint`` scores a model trained elsewhere on the same folds instead.

Every run is written to ``OUT/NAME/seedS/FOLD/result.json`` and skipped when it is already
there; a training killed half-way resumes where it stopped (its last epoch, or its last
``save_every_steps`` inside one), and a finished training is not run again when the evaluation
after it was killed, so the script can be stopped and started again (runs of hours on the ``full``
corpus included). ``table`` turns the results of several
recipes into the markdown tables of docs/GENERALIZATION.md.

    python experiments/generalization.py run --corpus data/corpus-small --name baseline \\
        --config experiments/configs/baseline.yaml --seeds 0 1
    python experiments/generalization.py run --corpus data/corpus-small --name quick --config \\
        experiments/configs/small.yaml --seeds 0 1 --folds fillets+tts-hifigan hedgewars+hifigan-v1
    python experiments/generalization.py int8 --corpus data/corpus-small --names quick   # as quick-int8
    python experiments/generalization.py cross-table --names today quick quick-int8 > cross.md
    python experiments/generalization.py robustness --corpus data/corpus-small --names baseline augment
    python experiments/generalization.py table --names baseline augment ... > tables.md

``run --keep-epochs`` keeps every epoch's weights (with the calibration fitted on dev at that
epoch), and ``curve`` scores each on its fold's eval split: the cross-source measures epoch by
epoch, beside the epoch dev chose. It tells whether a longer run helps at some epoch, whatever
rule picks it (``--patience`` lets a run go on where dev would have stopped it).

The corpus must have been built first (``spoofscan corpus build DIR --size small``); the held-out
manifests are written here (no audio is synthesised again).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from folds import ALL, corpus_values, fold_parts, heldout_metrics, write_fold_manifest

from spoofscan.fileio import atomic_write_text

RESULT = "result.json"
EPOCHS = "epochs"  # run --keep-epochs: train/epochs/epoch-NNN.safetensors
CURVE = "curve.json"  # curve: epoch -> measures, per run
TRAINED = "trained.json"  # train/trained.json: a finished training's result (a rerun evaluates it, no retraining)


def _write_json(path: Path, data: dict) -> None:
    """Write ``data`` as indented JSON, whole or not at all: the driver reads these files back to skip finished work,
    so a stop in the middle of a write must not leave half a file."""
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def run_one(corpus: Path, name: str, config: Path | None, seed: int, fold: str, out: Path, robustness_trials: int,
            eval_corpus: Path | None = None, checkpoint: Path | None = None, keep_epochs: bool = False,
            patience: int | None = None) -> dict:
    """Train one fold with one seed (or take ``checkpoint``), evaluate it on the fold's eval split
    (``eval_corpus``'s instead when given), and for ``all`` run the robustness report. ``keep_epochs``:
    keep every epoch's weights for ``curve``; ``patience``: the config's, unless given."""
    from spoofscan import load_detector

    run_dir = out / name / f"seed{seed}" / fold
    done = run_dir / RESULT
    if done.is_file():
        return json.loads(done.read_text())
    values = corpus_values(corpus / "manifest.csv")
    manifest = write_fold_manifest(corpus, fold, values)
    started = time.perf_counter()
    result = {"name": name, "seed": seed, "fold": fold}
    if checkpoint is None:
        trained, cfg = _train(manifest, config, seed, run_dir, keep_epochs, patience)
        checkpoint = trained.checkpoint
        result.update(config=cfg.to_dict(), best_epoch=trained.best_epoch, dev_eer=trained.metrics.get("dev_eer"),
                      train_seconds=round(sum(row["seconds"] for row in trained.history), 1),
                      train_steps=sum(row["steps"] for row in trained.history))
    else:
        result["checkpoint"] = str(checkpoint)
    detector = load_detector(checkpoint, device="cpu")
    records = _eval_records(eval_corpus / "manifest.csv" if eval_corpus else manifest)
    result.update(_evaluate(detector, records, run_dir, fold_parts(fold, values)))
    if fold == ALL and robustness_trials:
        result["robustness"] = robustness_eers(detector, records, run_dir, robustness_trials)
    result["seconds"] = round(time.perf_counter() - started, 1)
    _write_json(done, result)
    return result


def _train(manifest: Path, config: Path, seed: int, run_dir: Path, keep_epochs: bool = False,
           patience: int | None = None):
    """Train on a manifest's train split (best epoch on its dev split) into ``run_dir/train``; the
    :class:`~spoofscan.training.TrainResult` and the TrainConfig. A run killed half-way resumes from
    its last saved state (to the weights an uninterrupted run gives), so a run of hours can be
    stopped and started again; one that finished (``train/trained.json``) is not trained again.
    ``keep_epochs`` copies each epoch's checkpoint to ``train/epochs/epoch-NNN.safetensors``."""
    from spoofscan.training import TrainResult, fit, load_train_config
    from spoofscan.training.run_folder import STATE_FILE

    cfg = load_train_config(config, train=f"csv:{manifest}:train", dev=f"csv:{manifest}:dev",
                            out=str(run_dir / "train"), seed=seed, progress=False, patience=patience)
    done = run_dir / "train" / TRAINED
    if done.is_file():
        saved = json.loads(done.read_text())
        if saved["config"] != json.loads(json.dumps(cfg.to_dict())):
            raise SystemExit(f"{done} was trained with another config: remove {run_dir} to train it again")
        return TrainResult(Path(saved["checkpoint"]), run_dir / "train", saved["metrics"], saved["best_epoch"],
                           saved["history"]), cfg
    resume = (run_dir / "train" / STATE_FILE).is_file()
    if not resume:
        shutil.rmtree(run_dir / "train", ignore_errors=True)

    def keep(row: dict) -> None:
        if keep_epochs:
            (run_dir / "train" / EPOCHS).mkdir(exist_ok=True)
            shutil.copyfile(run_dir / "train" / "last.safetensors",
                            run_dir / "train" / EPOCHS / f"epoch-{row['epoch']:03d}.safetensors")

    trained = fit(cfg, resume=resume, on_epoch_end=keep)
    _write_json(done, {"config": cfg.to_dict(), "checkpoint": str(trained.checkpoint), "metrics": trained.metrics,
                       "best_epoch": trained.best_epoch, "history": trained.history})
    for stale in (STATE_FILE, "last.safetensors"):  # the resume state is 3x the weights
        (run_dir / "train" / stale).unlink(missing_ok=True)
    return trained, cfg


def _eval_records(manifest: Path) -> list:
    """The eval split's whole clips (real or fake throughout), each with its family (derived for manifests
    written before that column)."""
    from spoofscan.corpus import family_of
    from spoofscan.datasets import load_records

    records = load_records(f"csv:{manifest}:eval")
    for r in records:
        r.groups.setdefault("family", family_of(r.groups.get("generator", "-")))
    return [r for r in records if not r.segments]  # partly fake clips are measured apart (evaluate --partial)


def _evaluate(detector, records: list, run_dir: Path, parts: dict) -> dict:
    """The evaluation report's figures and the fold's own measures (see ``folds.py``)."""
    from spoofscan.evaluation.evaluate import evaluate
    from spoofscan.evaluation.scores import read_scores

    report = evaluate(detector, records, run_dir / "eval", progress=False)
    groups = report["groups"]

    def per(column: str) -> dict:
        return {row["value"]: row["eer"] for row in groups.get(column, {}).get("values", [])}

    return {"eval_eer": report["metrics"]["eer"], "eval_min_dcf": report["metrics"]["min_dcf"],
            "family_eer": per("family"), "generator_eer": per("generator"), "kind_eer": per("kind"),
            "heldout": heldout_metrics(records, read_scores(run_dir / "eval" / "scores.txt"), detector, parts)}


def robustness_eers(detector, records, run_dir: Path, max_trials: int) -> dict:
    """Run the robustness report on a stratified subset of the eval split; condition -> EER, minDCF."""
    from spoofscan.evaluation.robustness import robustness

    report = robustness(detector, records, run_dir / "robustness", max_trials=max_trials, seed=0, jobs=0,
                        progress=False)
    return {name: {"eer": c["metrics"]["eer"], "min_dcf": c["metrics"]["min_dcf"]}
            for name, c in report["conditions"].items()}


def cmd_robustness(args) -> None:
    """Add the robustness report to finished ``all`` runs that lack it (trained with --robustness-trials 0)."""
    from spoofscan import load_detector
    from spoofscan.datasets import load_records

    records = load_records(f"csv:{Path(args.corpus) / 'manifest.csv'}:eval")
    for name in args.names:
        for path in sorted((Path(args.out) / name).glob(f"seed*/{ALL}/{RESULT}")):
            result = json.loads(path.read_text())
            if "robustness" in result:
                continue
            detector = load_detector(path.parent / "train" / "best.safetensors", device="cpu")
            started = time.perf_counter()
            result["robustness"] = robustness_eers(detector, records, path.parent, args.trials)
            _write_json(path, result)
            degraded = [c["eer"] for k, c in result["robustness"].items() if k != "clean"]
            print(f"{name} seed {result['seed']}: mean degraded EER {100 * np.mean(degraded):.2f} % "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)


def cmd_run(args) -> None:
    corpus = Path(args.corpus)
    values = corpus_values(corpus / "manifest.csv")
    folds = args.folds or values["family"] + [ALL]
    for fold in folds:
        fold_parts(fold, values)  # unknown names fail now, before any training
    if (args.config is None) == (args.checkpoint is None):
        raise SystemExit("give --config (train each fold) or --checkpoint (score a model trained elsewhere)")
    for seed in args.seeds:
        for fold in folds:
            r = run_one(corpus, args.name, Path(args.config) if args.config else None, seed, fold, Path(args.out),
                        args.robustness_trials, Path(args.eval_corpus) if args.eval_corpus else None,
                        Path(args.checkpoint) if args.checkpoint else None, args.keep_epochs, args.patience)
            _print_result(args.name, r)


def _print_result(name: str, r: dict) -> None:
    """One line per finished run: its eval EER and its fold's own measures."""
    held = ", ".join(f"{k} {100 * v:.2f} %" for k, v in r["heldout"].items()
                     if k.startswith(("eer", "called")) and isinstance(v, float))
    print(f"{name} seed {r['seed']} fold {r['fold']}: eval EER {100 * r['eval_eer']:.2f} %"
          f"{'; ' + held if held else ''} ({r['seconds']:.0f} s)", flush=True)


def cmd_int8(args) -> None:
    """Export every trained run of each recipe to INT8 (the model's own scheme: static, calibrated on
    the fold's dev split, for the convolutional networks; dynamic for the encoders) and score the
    graph on the same fold and seed, as the recipe ``NAME-int8`` (so that every table can set it
    beside ``NAME``); runs already scored are skipped."""
    from spoofscan.export import export_onnx

    corpus, out = Path(args.corpus), Path(args.out)
    values = corpus_values(corpus / "manifest.csv")
    for name in args.names:
        for path in sorted((out / name).glob(f"seed*/*/{RESULT}")):
            r = json.loads(path.read_text())
            checkpoint, graph = path.parent / "train" / "best.safetensors", path.parent / "train" / "best-int8.onnx"
            if not checkpoint.is_file() or (args.folds and r["fold"] not in args.folds):
                continue  # a model trained elsewhere (--checkpoint), or a fold not asked for
            if not graph.is_file():
                manifest = write_fold_manifest(corpus, r["fold"], values)
                export_onnx(checkpoint, graph, int8=True, calibration=f"csv:{manifest}:dev")
            _print_result(f"{name}-int8", run_one(corpus, f"{name}-int8", None, r["seed"], r["fold"], out, 0,
                                                  checkpoint=graph))


def cmd_curve(args) -> None:
    """Score every kept epoch of each recipe's runs (``run --keep-epochs``) on its fold's eval split, caching
    the figures in each run's ``curve.json``; print the cross-source measures epoch by epoch."""
    from spoofscan import load_detector
    from spoofscan.checkpoint import read_card

    corpus, out = Path(args.corpus), Path(args.out)
    values = corpus_values(corpus / "manifest.csv")
    for name in args.names:
        runs = {}  # (seed, fold) -> (epoch -> measures, the epoch dev chose)
        for path in sorted((out / name).glob(f"seed*/*/{RESULT}")):
            r, run_dir = json.loads(path.read_text()), path.parent
            kept = sorted((run_dir / "train" / EPOCHS).glob("epoch-*.safetensors"))
            if not kept:
                continue
            curve = json.loads((run_dir / CURVE).read_text()) if (run_dir / CURVE).is_file() else {}
            records = None
            for checkpoint in kept:
                epoch = str(int(checkpoint.stem.split("-")[1]))
                if epoch in curve or (args.epochs and int(epoch) not in args.epochs):
                    continue
                if records is None:
                    records = _eval_records(write_fold_manifest(corpus, r["fold"], values))
                detector = load_detector(checkpoint, device="cpu")
                measures = _evaluate(detector, records, run_dir / "curve" / f"epoch-{epoch}",
                                     fold_parts(r["fold"], values))
                curve[epoch] = {"dev_eer": read_card(checkpoint)["metrics"]["dev_eer"],
                                "eval_eer": measures["eval_eer"], "heldout": measures["heldout"]}
                _write_json(run_dir / CURVE, curve)
                print(f"{name} seed {r['seed']} fold {r['fold']} epoch {epoch}: eval EER "
                      f"{100 * measures['eval_eer']:.2f} %", file=sys.stderr, flush=True)
            runs[(r["seed"], r["fold"])] = ({int(e): m for e, m in curve.items()}, r.get("best_epoch"))
        if runs:
            print("\n".join(curve_lines(name, runs)) + "\n")


def curve_lines(name: str, runs: dict) -> list[str]:
    """The markdown table of ``curve``: per epoch, the mean over the cross folds (and over seeds, ± half
    the range) of each cross measure, and dev and eval EER; an epoch counts only where every run reached it."""
    cross = sorted({fold for _, fold in runs if "+" in fold})
    seeds = sorted({seed for seed, _ in runs})
    last = max(max(curve, default=0) for curve, _ in runs.values())
    chosen = sorted({best for _, best in runs.values() if best})
    head = ["epoch", "runs", "dev EER", "eval EER"] + [title for _, title in CROSS_MEASURES]
    lines = [f"`{name}`: {len(runs)} runs ({len(cross)} cross folds x {len(seeds)} seeds); dev chose epochs "
             f"{', '.join(map(str, chosen))}", "", "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for epoch in range(1, last + 1):
        reached = {key: curve[epoch] for key, (curve, _) in runs.items() if epoch in curve}
        if len(reached) < len(runs):
            lines.append(f"| {epoch} | {len(reached)} of {len(runs)} |" + " - |" * (len(head) - 2))
            continue
        cells = [_cell([float(np.mean([m[k] for m in reached.values()]))]) for k in ("dev_eer", "eval_eer")]
        for measure, _ in CROSS_MEASURES:
            per_seed = [float(np.mean([reached[(s, f)]["heldout"][measure] for f in cross]))
                        for s in seeds
                        if all((s, f) in reached and measure in reached[(s, f)]["heldout"] for f in cross)]
            cells.append(_cell(per_seed) if cross else "-")
        lines.append(f"| {epoch} | {len(reached)} | " + " | ".join(cells) + " |")
    return lines


# ---------------------------------------------------------------------------- tables


def load_results(out: Path, names: list[str]) -> dict:
    """name -> seed -> fold -> result."""
    results: dict = {}
    for name in names:
        for path in sorted((out / name).glob(f"seed*/*/{RESULT}")):
            r = json.loads(path.read_text())
            results.setdefault(name, {}).setdefault(r["seed"], {})[r["fold"]] = r
    return results


def _cell(values: list[float]) -> str:
    """Mean EER in percent, with the spread over seeds (half the range) when there are several."""
    values = [v for v in values if v is not None and np.isfinite(v)]
    if not values:
        return "-"
    mean = 100 * float(np.mean(values))
    return f"{mean:.1f}" if len(values) == 1 else f"{mean:.1f} ± {50 * float(np.ptp(values)):.1f}"


def lfo_eer(seed_results: dict) -> dict:
    """family -> EER on that family when it was left out of training (one seed)."""
    return {fold: r["family_eer"].get(fold) for fold, r in seed_results.items() if fold != ALL}


def summary(results: dict, lfo_families: list[str] | None = None, unseen: list[str] = ()) -> dict:
    """Per recipe and seed: mean leave-family-out EER, clean eval EER, mean degraded EER.

    The leave-family-out mean of a recipe is taken over the same families for every seed: the
    folds all its seeds with leave-family-out runs have (or ``lfo_families``), so that seeds with more folds do not shift
    it. For a recipe in ``unseen`` (its corpus lacked those families) it is the mean EER of its
    'all' run on ``lfo_families``.
    """
    out = {}
    for name, seeds in results.items():
        if name in unseen:
            families = list(lfo_families or [])
        else:
            with_lfo = [set(lfo_eer(folds)) for folds in seeds.values() if lfo_eer(folds)]
            common = set.intersection(*with_lfo) if with_lfo else set()
            families = sorted(common & set(lfo_families) if lfo_families else common)
        rows = {}
        for seed, folds in seeds.items():
            if name in unseen:
                lfo = [folds.get(ALL, {}).get("family_eer", {}).get(f) for f in families]
            else:
                lfo = [lfo_eer(folds).get(f) for f in families]
            lfo = [v for v in lfo if v is not None]
            rob = folds.get(ALL, {}).get("robustness", {})
            degraded = [c["eer"] for k, c in rob.items() if k != "clean"]
            rows[seed] = {"lfo_mean": float(np.mean(lfo)) if lfo else None, "lfo_folds": len(lfo),
                          "clean": folds.get(ALL, {}).get("eval_eer"),
                          "degraded_mean": float(np.mean(degraded)) if degraded else None}
        out[name] = rows
    return out


def all_families(results: dict, names: list[str]) -> list[str]:
    """The eval families of the 'all' runs of these recipes, sorted."""
    return sorted({f for n in names for folds in results[n].values() for f in folds.get(ALL, {}).get("family_eer", {})})


def cmd_table(args) -> None:
    results = load_results(Path(args.out), args.names)
    names = [n for n in args.names if n in results]
    unseen = [n for n in args.unseen or [] if n in results]
    lines = ["## Summary (EER %, mean ± half the range over seeds)", "",
             "| recipe | seeds | mean leave-family-out EER (families) | eval EER (all families seen) "
             "| mean EER, degraded channels |", "|---|---|---|---|---|"]
    s = summary(results, args.lfo_families, unseen)
    for name in names:
        rows = list(s[name].values())
        lfo = _cell([r["lfo_mean"] for r in rows])
        if lfo != "-":
            lfo += f" ({rows[0]['lfo_folds']}{', never seen' if name in unseen else ''})"
        lines.append(f"| {name} | {len(rows)} | {lfo} | "
                     f"{_cell([r['clean'] for r in rows])} | {_cell([r['degraded_mean'] for r in rows])} |")
    families = sorted({f for n in names for folds in results[n].values() for f in folds if f != ALL})
    lines += ["", "## Leave-family-out: EER % on the family left out of training", "",
              "| family left out | " + " | ".join(names + [f"{n} (never saw it)" for n in unseen]) + " |",
              "|---" * (len(names) + len(unseen) + 1) + "|"]
    for family in families:
        cells = [_cell([folds.get(family, {}).get("family_eer", {}).get(family) for folds in results[n].values()])
                 for n in names]
        cells += [_cell([folds.get(ALL, {}).get("family_eer", {}).get(family) for folds in results[n].values()])
                  for n in unseen]
        lines.append(f"| {family} | " + " | ".join(cells) + " |")
    lines += ["", "## EER % per eval family, trained on every family of its corpus (fold 'all')", "",
              "| recipe | " + " | ".join(all_families(results, names)) + " |",
              "|---" * (len(all_families(results, names)) + 1) + "|"]
    for name in names:
        cells = [_cell([folds.get(ALL, {}).get("family_eer", {}).get(f) for folds in results[name].values()])
                 for f in all_families(results, names)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    conditions = []
    for n in names:
        for folds in results[n].values():
            for c in folds.get(ALL, {}).get("robustness", {}):
                if c not in conditions:
                    conditions.append(c)
    if conditions:
        lines += ["", "## Robustness: EER % under each channel condition (trained on every family)", "",
                  "| condition | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for c in conditions:
            cells = [_cell([folds.get(ALL, {}).get("robustness", {}).get(c, {}).get("eer")
                            for folds in results[n].values()]) for n in names]
            lines.append(f"| {c} | " + " | ".join(cells) + " |")
    for name in args.effects or []:
        if name not in results:
            continue
        folds_of = sorted({f for folds in results[name].values() for f in folds if f != ALL})
        columns = all_families(results, [name])
        lines += ["", f"## What each family adds ({name}): EER % on each eval family and pooled, trained with "
                      "every family (row 'all') or with one left out (bold: the family left out)", "",
                  "| trained without | " + " | ".join(columns) + " | pooled eval |", "|---" * (len(columns) + 2) + "|"]
        for fold in [ALL] + folds_of:
            runs = [folds[fold] for folds in results[name].values() if fold in folds]
            cells = [_cell([r["family_eer"].get(f) for r in runs]) for f in columns]
            cells = [f"**{c}**" if f == fold else c for f, c in zip(columns, cells)]
            cells.append(_cell([r["eval_eer"] for r in runs]))
            lines.append(f"| {'nothing (all)' if fold == ALL else fold} | " + " | ".join(cells) + " |")
    print("\n".join(lines))


CROSS_MEASURES = (("eer_heldout", "EER, left-out reals vs left-out fakes"),
                  ("eer_source_all", "EER, left-out reals vs every eval fake"),
                  ("called_fake", "left-out reals called fake at the shipped threshold"),
                  ("eer_family", "EER, every eval real vs left-out fakes (leave-family-out)"))


def cross_rows(results: dict, names: list[str]) -> tuple[list, dict]:
    """The cross folds (SOURCE+FAMILY) every recipe has, and per recipe, measure and seed the mean over them."""
    folds = sorted(set.intersection(*[{f for s in results[n].values() for f in s if "+" in f} for n in names]))
    means = {n: {m: [float(np.mean([s[f]["heldout"][m] for f in folds])) for s in results[n].values()
                     if all(f in s and m in s[f]["heldout"] for f in folds)] for m, _ in CROSS_MEASURES}
             for n in names}
    return folds, means


def cmd_cross_table(args) -> None:
    """The headline table: each cross fold's measures per recipe, and their mean over the folds."""
    results = load_results(Path(args.out), args.names)
    names = [n for n in args.names if n in results]
    folds, means = cross_rows(results, names)
    lines = ["| measure (mean over the cross folds, % ± half the range over seeds) | " + " | ".join(names) + " |",
             "|---" * (len(names) + 1) + "|"]
    for m, title in CROSS_MEASURES:
        lines.append(f"| {title} | " + " | ".join(_cell(means[n][m]) for n in names) + " |")
    lines += ["", "| fold (left-out source + family) | measure | " + " | ".join(names) + " |",
              "|---" * (len(names) + 2) + "|"]
    for fold in folds:
        for m, title in CROSS_MEASURES:
            cells = [_cell([s[fold]["heldout"].get(m) for s in results[n].values() if fold in s]) for n in names]
            lines.append(f"| {fold} | {title} | " + " | ".join(cells) + " |")
    lines += [""] + family_lines(results, names, folds)
    for family in args.families or []:
        lines += [""] + seen_and_left_out(results, names, folds, family)
    print("\n".join(lines))


def seen_and_left_out(results: dict, names: list[str], folds: list[str], family: str) -> list[str]:
    """Per recipe: the EER of the eval reals against ``family``'s fakes when the family was seen
    in training (mean over the cross folds, which keep it) and when it was left out (its own
    fold, ``run --folds FAMILY``)."""
    lines = [f"| recipe | vs {family} fakes, seen (mean over the cross folds) | left out (fold {family}) |",
             "|---|---|---|"]
    for name in names:
        seen = [float(np.mean([s[f]["family_eer"][family] for f in folds])) for s in results[name].values()
                if all(family in s.get(f, {}).get("family_eer", {}) for f in folds)]
        left_out = [s[family]["family_eer"].get(family) for s in results[name].values() if family in s]
        lines.append(f"| {name} | {_cell(seen)} | {_cell(left_out)} |")
    return lines


def family_lines(results: dict, names: list[str], folds: list[str]) -> list[str]:
    """Per recipe and cross fold: the left-out reals' EER against each left-out family's fakes, in
    the fold that left it out (bold) and in the folds that trained on it: what seeing a family buys."""
    families = [fold.split("+", 1)[1] for fold in folds]
    lines = ["| recipe | fold (left-out source + family) | " + " | ".join(f"vs {f} fakes" for f in families) + " |",
             "|---" * (len(families) + 2) + "|"]
    for name in names:
        for fold in folds:
            cells = []
            for family in families:
                cell = _cell([s[fold]["heldout"].get("eer_source_by_family", {}).get(family)
                              for s in results[name].values() if fold in s])
                cells.append(f"**{cell}**" if fold.endswith("+" + family) else cell)
            lines.append(f"| {name} | {fold} | " + " | ".join(cells) + " |")
    return lines


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="train and evaluate the folds of one recipe")
    r.add_argument("--corpus", required=True, help="an offline corpus folder (spoofscan corpus build)")
    r.add_argument("--name", required=True, help="the recipe's name in the results")
    r.add_argument("--config", help="TrainConfig YAML of the recipe (it may name a recipe: recipe: quick)")
    r.add_argument("--checkpoint", help="score this trained model on every fold instead of training (a model "
                   "trained elsewhere: today's default, say); its runs are named --name and --seeds as given")
    r.add_argument("--seeds", type=int, nargs="+", default=[0])
    r.add_argument("--folds", nargs="+", help="'all', families, kinds (tts, copy), sources, or SOURCE+FAMILY "
                   "cross folds (default: every family, then all)")
    r.add_argument("--out", default="runs/generalization")
    r.add_argument("--eval-corpus", help="evaluate on this corpus's eval split instead (a model trained on "
                   "another corpus, such as one with fewer fake families, scored on the same trials)")
    r.add_argument("--robustness-trials", type=int, default=400, help="eval clips for the robustness report (0: none)")
    r.add_argument("--keep-epochs", action="store_true", help="keep every epoch's weights (for curve)")
    r.add_argument("--patience", type=int, help="epochs without a better dev EER before stopping (default: the "
                   "config's; the number of epochs lets every run go to its end)")
    r.set_defaults(func=cmd_run)
    k = sub.add_parser("curve", help="the cross-source measures at every kept epoch (run --keep-epochs)")
    k.add_argument("--corpus", required=True)
    k.add_argument("--names", nargs="+", required=True)
    k.add_argument("--out", default="runs/generalization")
    k.add_argument("--epochs", type=int, nargs="*", help="score only these epochs (default: every kept one; each "
                   "costs one evaluation of the fold's eval split)")
    k.set_defaults(func=cmd_curve)
    q = sub.add_parser("int8", help="score the INT8 export of every trained run as NAME-int8")
    q.add_argument("--corpus", required=True)
    q.add_argument("--names", nargs="+", required=True)
    q.add_argument("--folds", nargs="*", help="only these folds (default: every trained one)")
    q.add_argument("--out", default="runs/generalization")
    q.set_defaults(func=cmd_int8)
    b = sub.add_parser("robustness", help="add the robustness report to finished 'all' runs that lack it")
    b.add_argument("--corpus", required=True)
    b.add_argument("--names", nargs="+", required=True)
    b.add_argument("--trials", type=int, default=400, help="eval clips (a stratified subset)")
    b.add_argument("--out", default="runs/generalization")
    b.set_defaults(func=cmd_robustness)
    t = sub.add_parser("table", help="markdown tables of the results")
    t.add_argument("--names", nargs="+", required=True)
    t.add_argument("--effects", nargs="*", help="recipes for which to print the family-by-family table")
    t.add_argument("--unseen", nargs="*", help="recipes whose corpus lacked some families: their 'all' run's EER on "
                   "those families, beside the leave-family-out columns")
    t.add_argument("--lfo-families", nargs="*", help="take the summary's leave-family-out mean over these families "
                   "only (default: the folds every seed of a recipe has); an --unseen recipe is averaged over them")
    t.add_argument("--out", default="runs/generalization")
    t.set_defaults(func=cmd_table)
    c = sub.add_parser("cross-table", help="the cross-source table (the headline): left-out sources and families")
    c.add_argument("--names", nargs="+", required=True)
    c.add_argument("--out", default="runs/generalization")
    c.add_argument("--families", nargs="*", help="also each recipe's EER on these families seen and left out "
                   "(e.g. pvoc, after run --folds pvoc)")
    c.set_defaults(func=cmd_cross_table)
    args = ap.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    sys.exit(main())
