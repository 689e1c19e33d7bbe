"""`spoofscan train`, `spoofscan export` and `spoofscan vocoder train`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..errors import SpoofscanError
from ..graphs import AUTO, GRAPH_KINDS


def add_train(sub):
    from ..datasets import spec_help

    p = sub.add_parser("train", help="train a detector (runs unchanged under torchrun for several GPUs or nodes)",
                       epilog=spec_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipe", help="start from a named recipe (quick, long, ci, whisper-base: spoofscan.recipes); a "
                                    "--config file and the flags change it")
    p.add_argument("--config", help="YAML or TOML file with TrainConfig fields (it may name a recipe: 'recipe: quick'); "
                                    "flags override it")
    p.add_argument("--train", help="training data spec CORPUS:PATH[:SUBSET], e.g. asvspoof2019la:/data/LA:train")
    p.add_argument("--dev", help="dev data spec (picks the best epoch and fits the calibration), "
                                 "e.g. asvspoof2019la:/data/LA:dev")
    p.add_argument("--out", help="run folder (default runs/default)")
    p.add_argument("--model", help="a preset: resnet18 (default), resnet10, resnet18-half, resnet10-mini, "
                                   "resnet18-hybrid, resnet18-half-hybrid, resnet10-mini-hybrid, whisper-base-sls "
                                   "(Whisper base's encoder, frozen: needs --frontend whisper), whisper-mini-sls")
    p.add_argument("--frontend", help="logmel (default), linear (linear-frequency log spectrogram) or lfcc; "
                                      "see --channels for phase channels")
    p.add_argument("--channels", help="input channels, comma-separated: logmag (default: the front end alone), mgd "
                                      "(modified group delay), ifd (instantaneous-frequency deviation), e.g. "
                                      "logmag,mgd,ifd; the phase channels need --frontend logmel or linear")
    p.add_argument("--init", help="random (default), imagenet, or a path to torchvision resnet18 weights (.pth)")
    p.add_argument("--encoder-weights", help="an encoder model's weights: installed (default: the Whisper base "
                                             "of 'spoofscan[encoder]'), a faster-whisper folder, a .safetensors "
                                             "file, or random")
    p.add_argument("--feature-cache", help="folder of the encoder's cached hidden states (default: ~/.cache/spoofscan)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--balance", help="loss (weighted BCE, default), sampler (balanced batches) or none")
    p.add_argument("--patience", type=int, help="epochs without a better dev EER before stopping")
    p.add_argument("--workers", type=int, dest="num_workers", help="DataLoader worker processes")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto (default), cpu, cuda, mps")
    p.add_argument("--augment", help="augmentation preset: off (default), standard (the measured chain), rawboost, "
                                     "channel or full (replaces the config file's augment: mapping, where each effect "
                                     "can be set)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out exactly where it stopped")
    p.add_argument("--save-every-steps", type=int, help="also write the resume state every N optimiser steps, so "
                   "that a run stopped inside a long epoch resumes there (default 0: at epoch ends only)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    p.set_defaults(func=_cmd_train)


def _cmd_train(args) -> int:
    from ..training import fit, load_train_config

    keys = ("recipe", "train", "dev", "out", "model", "init", "epochs", "batch_size", "lr", "balance", "patience",
            "num_workers", "seed", "device", "augment", "encoder_weights", "feature_cache", "save_every_steps")
    overrides = {k: getattr(args, k) for k in keys}
    features = {"frontend": args.frontend,
                "channels": tuple(name.strip() for name in args.channels.split(",")) if args.channels else None}
    if any(v is not None for v in features.values()):
        overrides["features"] = {k: v for k, v in features.items() if v is not None}
    if args.quiet:
        overrides["progress"] = False
    if args.resume and args.config is None and (Path(args.out or "runs/default") / "config.json").is_file():
        args.config = str(Path(args.out or "runs/default") / "config.json")
    cfg = load_train_config(args.config, **overrides)
    if not cfg.train or not cfg.dev:
        raise SpoofscanError("train needs --train and --dev data specs (or a --config file that sets them)")
    result = fit(cfg, resume=args.resume)
    if result.best_epoch > 0 and int(os.environ.get("RANK", "0")) == 0:
        eer = result.metrics.get("dev_eer", float("nan"))
        print(f"best epoch {result.best_epoch}: dev EER {100 * eer:.2f} %  ->  {result.checkpoint}")
    return 0


def add_export(sub):
    p = sub.add_parser("export", help="export a checkpoint to ONNX (FP32, INT8, FP16, or the fastest of equal accuracy) "
                                      "for the torch-free runtime")
    p.add_argument("checkpoint", help="the .safetensors checkpoint")
    p.add_argument("out", help="the .onnx file to write")
    p.add_argument("--format", choices=("onnx",), default="onnx")
    p.add_argument("--int8", action="store_true",
                   help="INT8: static QDQ (needs --calibration; = --graph int8-static), or dynamic for an encoder model (no calibration; = --graph int8-dynamic)")
    p.add_argument("--graph", choices=GRAPH_KINDS + (AUTO,),
                   help="the graph kind (default fp32); auto: time every kind on this machine and keep the fastest "
                        "of equal accuracy (needs --calibration; the timings go into the model's metadata)")
    p.add_argument("--calibration", metavar="DATA_SPEC",
                   help="audio to calibrate INT8 activation ranges on and to compare the graph with FP32 on, "
                        "e.g. csv:manifest.csv:dev (both classes; the dev split)")
    p.add_argument("--calibration-windows", type=int, default=256, help="windows to calibrate on")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="largest accepted |logit difference| ONNX FP32 vs PyTorch")
    p.set_defaults(func=_cmd_export)


def _cmd_export(args) -> int:
    import math

    from ..export import export_onnx
    from ..fileio import refuse_overwrite

    if args.calibration and not args.int8 and args.graph in (None, "fp32"):
        raise SpoofscanError("--calibration goes with --int8 or --graph (an FP32 export needs no calibration audio)")
    if not (math.isfinite(args.tolerance) and args.tolerance >= 0):
        raise SpoofscanError(f"--tolerance must be a finite number >= 0, got {args.tolerance}")
    if args.calibration_windows < 1:
        raise SpoofscanError(f"--calibration-windows must be >= 1, got {args.calibration_windows}")
    calibration_file = None
    if args.calibration:
        from ..datasets import parse_spec

        calibration_file = parse_spec(args.calibration)[1]
    refuse_overwrite([args.out], [args.checkpoint, calibration_file], "the exported model")
    result = export_onnx(args.checkpoint, args.out, int8=args.int8, graph=args.graph, calibration=args.calibration,
                         calibration_windows=args.calibration_windows, tolerance=args.tolerance)
    print(result.summary())
    return 0


def add_vocoder(sub):
    from ..datasets import spec_help

    p = sub.add_parser("vocoder", help="train the small neural vocoders behind the corpus's neural fake families")
    vsub = p.add_subparsers(dest="vocoder_command", required=True)
    t = vsub.add_parser("train", help="train a vocoder (mel to waveform) on real speech: safetensors + JSON card, "
                                      "resumable, reproducible", epilog=spec_help(),
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("out", help="folder for vocoder.safetensors, last.safetensors (resume) and metrics.csv")
    t.add_argument("--data", action="append", required=True,
                   help="real speech: a folder of audio files or a data spec (its bona fide clips); repeatable")
    t.add_argument("--check", action="append", default=[],
                   help="clips held out of training for the listen-free check (folder or data spec); repeatable")
    t.add_argument("--family", default="vocos", help="vocos (Vocos-like, iSTFT head) or hifigan (HiFi-GAN-like)")
    t.add_argument("--recipe", default="draft", help="draft (narrow, 300 steps: fits a CPU) or quality (wider and "
                                                     "deeper, 4,000 steps); see spoofscan.vocoder.VOCODER_RECIPES")
    t.add_argument("--steps", type=int, help="training steps (default: the recipe's)")
    t.add_argument("--batch-size", type=int, help="crops per step (default: the recipe's)")
    t.add_argument("--lr", type=float, help="peak learning rate (default: the recipe's for the family); lower it "
                                            "when training stops as diverged")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1; the weights depend on the "
                                                           "count, not on the machine's cores)")
    t.add_argument("--device", default="auto", help="auto (CUDA when there is one), cpu or cuda")
    t.add_argument("--resume", action="store_true", help="continue from OUT/last.safetensors")
    t.add_argument("--quiet", action="store_true", help="no per-step lines")
    t.set_defaults(func=_cmd_vocoder_train)


def _vocoder_clips(items: list) -> list:
    from ..audio import audio_files, load_audio
    from ..datasets import load_records
    from ..labels import BONAFIDE

    paths = []
    for item in items:
        if Path(item).is_dir():
            paths += [str(p) for p in audio_files(Path(item))]
        else:
            paths += [r.path for r in load_records(item) if r.label == BONAFIDE]
    if not paths:
        raise SpoofscanError(f"no audio found in {', '.join(items)}")
    return [load_audio(p, min_seconds=0.0) for p in paths]


def _cmd_vocoder_train(args) -> int:
    from ..errors import choice_error
    from ..vocoder import VOCODER_FAMILIES, train_vocoder, vocoder_recipe

    if args.family not in VOCODER_FAMILIES:
        raise choice_error("vocoder family", args.family, VOCODER_FAMILIES)
    budget = vocoder_recipe(args.recipe)
    train = budget.train_config(args.family, steps=args.steps or None, batch_size=args.batch_size or None,
                                lr=args.lr, seed=args.seed, threads=args.threads, device=args.device)
    waves = _vocoder_clips(args.data)
    check = _vocoder_clips(args.check) if args.check else []
    result = train_vocoder(waves, budget.models[args.family], train, args.out, check_waves=check,
                           resume=args.resume, log=None if args.quiet else print)
    first, last = result.history[0], result.history[-1]
    print(f"loss {first['loss']:.4f} (steps 1-{first['step']}) -> {last['loss']:.4f} (to step {last['step']}); "
          f"{result.seconds:.0f} s")
    if result.metrics:
        print(f"listen-free check on {result.metrics['check_clips']} held-out clips: log-mel L1 of the copy-synthesis "
              f"{result.metrics['mel_l1']:.3f} (untrained vocoder {result.metrics['mel_l1_untrained']:.3f})")
    print(f"vocoder: {result.path}")
    return 0
