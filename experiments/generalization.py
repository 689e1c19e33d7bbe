"""Measure generalisation inside the project: leave-family-out training and channel robustness.

For one training recipe (a TrainConfig YAML) and each seed, this trains

- once on the whole offline corpus (fold ``all``), evaluates on its eval split (EER per fake
  family) and runs the robustness report (EER under each channel condition);
- once per fake family left out of training (fold = the family; the corpus's
  ``manifest-heldout-FAMILY.csv``), and evaluates on the same eval split: the EER on the family
  left out is the EER on a kind of fake the model never saw.

Every run is written to ``OUT/NAME/seedS/FOLD/result.json`` and skipped when it is already
there, so the script can be stopped and started again. ``table`` turns the results of several
recipes into the markdown tables of docs/GENERALIZATION.md.

    python experiments/generalization.py run --corpus data/corpus-small --name baseline \\
        --config experiments/configs/baseline.yaml --seeds 0 1
    python experiments/generalization.py robustness --corpus data/corpus-small --names baseline augment
    python experiments/generalization.py table --names baseline augment ... > tables.md

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

RESULT = "result.json"
ALL = "all"


def families_of(manifest: Path) -> list[str]:
    """The fake families of a corpus manifest (the part of the generator name before ``/``)."""
    import csv

    from spoofscan.corpus import family_of

    with open(manifest, newline="", encoding="utf-8") as f:
        return sorted({family_of(row["generator"]) for row in csv.DictReader(f) if row["label"] == "spoof"})


def heldout_manifests(corpus: Path, families: list[str]) -> None:
    """Write ``manifest-heldout-FAMILY.csv`` for each family (from the build state: no synthesis)."""
    from spoofscan.corpus import write_heldout_manifest

    for family in families:
        write_heldout_manifest(corpus, family)


def run_one(corpus: Path, name: str, config: Path, seed: int, fold: str, out: Path, robustness_trials: int,
            eval_corpus: Path | None = None) -> dict:
    """Train one fold with one seed, evaluate it on ``eval_corpus``'s eval split (default: the
    training corpus's), and for ``all`` run the robustness report."""
    from spoofscan import load_detector
    from spoofscan.corpus import family_of
    from spoofscan.datasets import load_records
    from spoofscan.evaluation.evaluate import evaluate
    from spoofscan.training import fit, load_train_config

    run_dir = out / name / f"seed{seed}" / fold
    done = run_dir / RESULT
    if done.is_file():
        return json.loads(done.read_text())
    manifest = corpus / ("manifest.csv" if fold == ALL else f"manifest-heldout-{fold}.csv")
    started = time.perf_counter()
    shutil.rmtree(run_dir / "train", ignore_errors=True)  # a run killed half-way starts again
    cfg = load_train_config(config, train=f"csv:{manifest}:train", dev=f"csv:{manifest}:dev",
                            out=str(run_dir / "train"), seed=seed, progress=False)
    trained = fit(cfg)
    train_seconds = time.perf_counter() - started
    detector = load_detector(trained.checkpoint, device="cpu")
    records = load_records(f"csv:{(eval_corpus or corpus) / 'manifest.csv'}:eval")
    for r in records:  # manifests written before the family column: derive it
        r.groups.setdefault("family", family_of(r.groups.get("generator", "-")))
    report = evaluate(detector, records, run_dir / "eval", progress=False)
    groups = report["groups"]
    result = {
        "name": name, "seed": seed, "fold": fold, "config": cfg.to_dict(),
        "best_epoch": trained.best_epoch, "dev_eer": trained.metrics.get("dev_eer"),
        "eval_eer": report["metrics"]["eer"], "eval_min_dcf": report["metrics"]["min_dcf"],
        "family_eer": {row["value"]: row["eer"] for row in groups.get("family", {}).get("values", [])},
        "generator_eer": {row["value"]: row["eer"] for row in groups.get("generator", {}).get("values", [])},
        "train_seconds": round(train_seconds, 1),
        "train_steps": sum(row["steps"] for row in trained.history),
    }
    if fold == ALL and robustness_trials:
        result["robustness"] = robustness_eers(detector, records, run_dir, robustness_trials)
    for stale in ("state.pt", "last.safetensors"):  # the resume state is 3x the weights
        (run_dir / "train" / stale).unlink(missing_ok=True)
    result["seconds"] = round(time.perf_counter() - started, 1)
    done.write_text(json.dumps(result, indent=2) + "\n")
    return result


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
            path.write_text(json.dumps(result, indent=2) + "\n")
            degraded = [c["eer"] for k, c in result["robustness"].items() if k != "clean"]
            print(f"{name} seed {result['seed']}: mean degraded EER {100 * np.mean(degraded):.2f} % "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)


def cmd_run(args) -> None:
    corpus = Path(args.corpus)
    families = families_of(corpus / "manifest.csv")
    folds = families + [ALL] if not args.folds else args.folds
    unknown = sorted(set(folds) - {ALL} - set(families))
    if unknown:
        raise SystemExit(f"unknown fold(s) {unknown}: the corpus's families are {families}")
    heldout_manifests(corpus, [f for f in folds if f != ALL])
    for seed in args.seeds:
        for fold in folds:
            r = run_one(corpus, args.name, Path(args.config), seed, fold, Path(args.out), args.robustness_trials,
                        Path(args.eval_corpus) if args.eval_corpus else None)
            held = f", EER on the held-out family {100 * r['family_eer'].get(fold, float('nan')):.2f} %" if fold != ALL else ""
            print(f"{args.name} seed {seed} fold {fold}: eval EER {100 * r['eval_eer']:.2f} %{held} "
                  f"({r['seconds']:.0f} s)", flush=True)


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


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="train and evaluate the folds of one recipe")
    r.add_argument("--corpus", required=True, help="an offline corpus folder (spoofscan corpus build)")
    r.add_argument("--name", required=True, help="the recipe's name in the results")
    r.add_argument("--config", required=True, help="TrainConfig YAML of the recipe")
    r.add_argument("--seeds", type=int, nargs="+", default=[0])
    r.add_argument("--folds", nargs="+", help="families and/or 'all' (default: every family, then all)")
    r.add_argument("--out", default="runs/generalization")
    r.add_argument("--eval-corpus", help="evaluate on this corpus's eval split instead (a model trained on "
                   "another corpus, such as one with fewer fake families, scored on the same trials)")
    r.add_argument("--robustness-trials", type=int, default=400, help="eval clips for the robustness report (0: none)")
    r.set_defaults(func=cmd_run)
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
    args = ap.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    sys.exit(main())
