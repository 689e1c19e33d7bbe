"""Training end to end: learnable data, exact resume after a kill, torchrun with two CPU processes."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import BATCH_ATOL, BATCH_RTOL
from safetensors.numpy import load_file
from synth import make_corpus

import spoofscan
from spoofscan.checkpoint import read_card
from spoofscan.datasets import Record, load_records
from spoofscan.evaluation.evaluate import evaluate, read_scores
from spoofscan.frontend.config import FeatureConfig
from spoofscan.models import ModelConfig, model_preset
from spoofscan.training import TrainConfig, fit, load_train_config

SMALL_FEATURES = FeatureConfig(n_mels=40, n_fft=512, window_seconds=1.0, hop_seconds=0.5)
SRC = str(Path(spoofscan.__file__).resolve().parents[1])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


def tiny_config(manifest: Path, out: Path, **kw) -> TrainConfig:
    base = dict(train=f"csv:{manifest}:train", dev=f"csv:{manifest}:dev", out=str(out), model="resnet10-mini",
                features=SMALL_FEATURES, epochs=4, batch_size=8, lr=3e-3, num_workers=0, device="cpu",
                progress=False, seed=1)
    base.update(kw)
    return TrainConfig.from_dict(base)


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    return fit(tiny_config(corpus, out))


@pytest.mark.slow
def test_fit_learns_evaluates_predicts_and_reloads(trained, corpus, tmp_path):
    result = trained
    assert result.checkpoint.is_file()
    assert 1 <= result.best_epoch <= 4
    assert result.metrics["dev_eer"] < 0.25, result.history
    rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, len(rows) + 1))
    assert (result.run_dir / "metrics.csv").read_text().startswith("epoch,")

    card = read_card(result.checkpoint)
    assert card["features"] == SMALL_FEATURES.to_dict()
    assert card["train"]["train_data"]["trials"] == 48
    assert card["calibration"]["a"] > 0  # higher score = more bona fide after calibration too

    det = spoofscan.load_detector(result.checkpoint, device="cpu")
    eval_records = load_records(f"csv:{corpus}:eval")
    report = evaluate(det, eval_records, tmp_path / "eval", progress=False)
    assert report["metrics"]["eer"] < 0.3  # chance is 0.5; unseen clips of the same two kinds

    # reloading gives identical scores to the ones written by evaluate
    scores = read_scores(tmp_path / "eval" / "scores.txt")
    again = spoofscan.load_detector(result.checkpoint, device="cpu")
    for rec in eval_records[:4]:  # evaluate batched each clip's windows with other clips'
        assert again.predict(rec.path).score == pytest.approx(scores[rec.trial], rel=BATCH_RTOL, abs=BATCH_ATOL)

    # a clip longer than one window gets a timeline that covers all of it
    long_clip = np.concatenate([load_spoofscan_audio(r.path) for r in eval_records[:3]])
    pred = det.predict(long_clip, 16000)
    assert pred.timeline[0].start == 0 and pred.timeline[-1].end == pytest.approx(len(long_clip) / 16000, abs=1e-3)
    assert pred.label in ("real", "fake") and 0.0 <= pred.p_fake <= 1.0


def load_spoofscan_audio(path):
    from spoofscan.audio import load_audio

    return load_audio(path)


@pytest.mark.slow
def test_best_epoch_is_chosen_on_dev(trained):
    best = min(trained.history, key=lambda r: r["dev_eer"])
    assert trained.best_epoch == best["epoch"]
    assert trained.metrics["dev_eer"] == best["dev_eer"]


def _weights(path: Path) -> dict:
    return load_file(str(path))


# every waveform family, SpecAugment too; cheap settings (one room kind, three codecs)
AUGMENT = {"reverb": {"p": 0.3, "rooms": ["small"]}, "noise": {"p": 0.5}, "rawboost": {"p": 0.5},
           "eq": {"p": 0.3}, "gain": {"p": 0.3}, "clip": {"p": 0.1}, "narrowband": {"p": 0.2},
           "codec": {"p": 0.3, "choices": ["mp3:32", "opus:12", "gsm"]}, "specaugment": {"p": 0.5}}


@pytest.mark.slow
@pytest.mark.parametrize("augment", [None, AUGMENT], ids=["plain", "augmented"])
def test_resume_after_kill_reaches_the_same_weights(corpus, tmp_path, augment):
    """A run killed after epoch 1 and resumed reaches the uninterrupted run's weights exactly; with
    augmentation on, the killed and resumed runs also use two DataLoader workers, the straight one none."""
    straight = fit(tiny_config(corpus, tmp_path / "straight", epochs=3, augment=augment))
    workers = 2 if augment else 0

    killed = tmp_path / "killed"
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_train import tiny_config
        from spoofscan.training import fit
        from pathlib import Path
        def die(row):
            if row["epoch"] == 1:
                os._exit(9)  # as abrupt as SIGKILL: no cleanup, no flush of anything pending
        fit(tiny_config(Path({str(corpus)!r}), Path({str(killed)!r}), epochs=3, augment={augment!r},
                        num_workers={workers}), on_epoch_end=die)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 9, proc.stderr
    assert len((killed / "metrics.jsonl").read_text().splitlines()) == 1

    resumed = fit(tiny_config(corpus, killed, epochs=3, augment=augment, num_workers=workers), resume=True)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    a, b = _weights(straight.run_dir / "last.safetensors"), _weights(killed / "last.safetensors")
    assert a.keys() == b.keys()
    for k in a:  # exact: the same seeded batches, in the same order, summed the same way on this machine
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert [r["dev_eer"] for r in straight.history] == [r["dev_eer"] for r in resumed.history]
    if augment:
        card = read_card(straight.checkpoint)
        assert card["train"]["config"]["augment"]["noise"]["p"] == 0.5  # the settings travel in the card


@pytest.mark.slow
def test_specaugment_is_applied_in_the_training_step(corpus, tmp_path):
    plain = fit(tiny_config(corpus, tmp_path / "plain", epochs=1))
    masked = fit(tiny_config(corpus, tmp_path / "masked", epochs=1, augment={"specaugment": {"p": 1.0}}))
    assert plain.history[0]["train_loss"] != masked.history[0]["train_loss"]  # (its seeding: the resume test)


@pytest.mark.slow
def test_resume_inside_an_epoch_reaches_the_same_weights(corpus, tmp_path):
    """With save_every_steps, a run killed in the middle of an epoch (just after a save) resumes from that
    step, not from the epoch's start, and still reaches the uninterrupted run's weights exactly: an
    epoch of hours on a CPU loses at most save_every_steps steps to a kill."""
    straight = fit(tiny_config(corpus, tmp_path / "straight", epochs=2, save_every_steps=2))
    assert straight.history[0]["steps"] > 3  # the kill below is inside the second epoch, not at its end

    killed = tmp_path / "killed"
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_train import tiny_config
        from spoofscan.training import fit, loop
        from pathlib import Path
        save = loop._save_state
        def save_then_die(t, state, epoch, step, *rest):
            save(t, state, epoch, step, *rest)
            if epoch == 1 and step == 2:
                os._exit(9)
        loop._save_state = save_then_die
        fit(tiny_config(Path({str(corpus)!r}), Path({str(killed)!r}), epochs=2, save_every_steps=2))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 9, proc.stderr
    assert len((killed / "metrics.jsonl").read_text().splitlines()) == 1

    resumed = fit(tiny_config(corpus, killed, epochs=2, save_every_steps=2), resume=True)
    assert [r["epoch"] for r in resumed.history] == [1, 2]
    for row_s, row_r in zip(straight.history, resumed.history, strict=True):  # the same log, steps and loss
        assert (row_r["steps"], row_r["train_loss"]) == (row_s["steps"], row_s["train_loss"])
    a, b = _weights(straight.run_dir / "last.safetensors"), _weights(killed / "last.safetensors")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert [r["dev_eer"] for r in straight.history] == [r["dev_eer"] for r in resumed.history]


@pytest.mark.slow
def test_resume_refuses_a_changed_config_and_a_fresh_run_refuses_an_old_folder(corpus, tmp_path):
    fit(tiny_config(corpus, tmp_path / "run", epochs=1))
    with pytest.raises(spoofscan.SpoofscanError, match="already holds a run"):
        fit(tiny_config(corpus, tmp_path / "run", epochs=1))
    with pytest.raises(spoofscan.SpoofscanError, match="lr"):
        fit(tiny_config(corpus, tmp_path / "run", epochs=1, lr=0.1), resume=True)
    with pytest.raises(spoofscan.SpoofscanError, match="augment"):
        fit(tiny_config(corpus, tmp_path / "run", epochs=1, augment="rawboost"), resume=True)


def test_recipes_are_read_everywhere_and_changed_by_files_and_flags(tmp_path):
    from spoofscan.recipes import describe, load_recipe, recipe_names

    assert {"ci", "quick", "long"} <= set(recipe_names()) and all(describe(n) for n in recipe_names())
    quick = TrainConfig.from_dict({"recipe": "quick"})
    assert (quick.model.in_chans, quick.epochs, quick.features.window_seconds) == (3, 6, 2.0)
    assert quick.features.channels == ("logmag", "mgd", "ifd")  # chosen by the cross-source measure
    assert quick.model == dataclasses.replace(model_preset("resnet18-half"), in_chans=3)
    long = TrainConfig.from_dict({"recipe": "long"})  # 'recipe: quick' with changes: the rest is quick's
    assert (long.model, long.epochs, long.features, long.lr) == (ModelConfig(in_chans=3), 20, quick.features, quick.lr)
    overlay = tmp_path / "lfcc.yaml"
    overlay.write_text("recipe: quick\nfeatures: {frontend: lfcc, channels: [logmag]}\nepochs: 3\n")
    cfg = load_train_config(overlay, epochs=4)  # a flag beats the file, the file beats the recipe
    assert (cfg.recipe, cfg.epochs, cfg.features.frontend, cfg.features.window_seconds) == ("quick", 4, "lfcc", 2.0)
    assert load_train_config(overlay, recipe="ci").model == model_preset("resnet10-mini")
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg  # config.json round trip
    assert load_recipe("quick") is not load_recipe("quick")  # callers get their own copy to change
    with pytest.raises(spoofscan.SpoofscanError, match="unknown recipe 'fast'.*ci, long, quick"):
        TrainConfig.from_dict({"recipe": "fast"})


def test_the_quickstart_trains_its_size_recipe_or_the_one_named():
    from spoofscan.quickstart import training_settings

    assert training_settings("small")["recipe"] == "quick"
    whisper = training_settings("small", "whisper-base", epochs=3)  # e.g. quickstart --recipe whisper-base --epochs 3
    cfg = TrainConfig.from_dict(whisper)
    assert (cfg.recipe, cfg.features.frontend, cfg.model.arch, cfg.epochs) == ("whisper-base", "whisper", "encoder", 3)
    with pytest.raises(spoofscan.SpoofscanError, match="unknown recipe 'fast'"):
        training_settings("small", "fast")


def test_a_model_mapping_changes_only_its_fields_of_the_recipes_preset(tmp_path):
    (tmp_path / "finetune.yaml").write_text("recipe: whisper-base\nmodel: {trainable_layers: 2}\n")
    cfg = load_train_config(tmp_path / "finetune.yaml")
    assert cfg.model == dataclasses.replace(model_preset("whisper-base-sls"), trainable_layers=2)
    (tmp_path / "wide.yaml").write_text("recipe: quick\nmodel: {width: 48}\n")
    assert load_train_config(tmp_path / "wide.yaml").model == dataclasses.replace(model_preset("resnet18-half"),
                                                                                   width=48, in_chans=3)


DDP_FEATURES = "features:\n  n_mels: 40\n  n_fft: 512\n  window_seconds: 1.0\n  hop_seconds: 0.5\n"
DDP_ENV = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def _ddp_args(corpus: Path, out: Path) -> list:
    return ["--train", f"csv:{corpus}:train", "--dev", f"csv:{corpus}:dev", "--out", str(out),
            "--model", "resnet10-mini", "--epochs", "2", "--batch-size", "8", "--workers", "0", "--device", "cpu",
            "--quiet"]


@pytest.fixture(scope="module")
def ddp_run(corpus, tmp_path_factory):
    """A two-process CPU run (gloo) of two epochs, uninterrupted: (run folder, torchrun's output)."""
    root = tmp_path_factory.mktemp("ddp")
    (root / "ddp.yaml").write_text(DDP_FEATURES)
    cmd = TORCHRUN + ["-m", "spoofscan", "train", "--config", str(root / "ddp.yaml"), *_ddp_args(corpus, root / "run")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=DDP_ENV)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root / "run", proc


@pytest.mark.slow
def test_torchrun_two_cpu_processes(ddp_run):
    out, proc = ddp_run
    assert proc.stdout.count("best epoch") == 1  # rank 0 alone reports
    card = read_card(out / "best.safetensors")
    assert card["train"]["world_size"] == 2
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2  # only rank 0 writes


def _metrics_rows(run: Path) -> list:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]  # all but the wall time


@pytest.mark.slow
def test_torchrun_resume_matches_an_uninterrupted_run(corpus, ddp_run, tmp_path):
    """Killed after epoch 1 and resumed under torchrun: the same log (no duplicated row) and weights."""
    straight, _ = ddp_run
    killed = tmp_path / "killed"
    (tmp_path / "ddp.yaml").write_text(DDP_FEATURES)
    script = tmp_path / "die_after_epoch_1.py"
    script.write_text(textwrap.dedent(f"""
        import os
        from spoofscan.training import fit, load_train_config

        def die(row):  # on rank 0, after the epoch's state is saved: as abrupt as SIGKILL
            if row["epoch"] == 1:
                os._exit(9)

        cfg = load_train_config({str(tmp_path / "ddp.yaml")!r}, train={f"csv:{corpus}:train"!r},
                                dev={f"csv:{corpus}:dev"!r}, out={str(killed)!r}, model="resnet10-mini", epochs=2,
                                batch_size=8, num_workers=0, device="cpu", progress=False)
        fit(cfg, on_epoch_end=die)
    """))
    proc = subprocess.run(TORCHRUN + [str(script)], capture_output=True, text=True, timeout=600, env=DDP_ENV)
    assert proc.returncode != 0 and len(_metrics_rows(killed)) == 1, proc.stdout + proc.stderr

    resumed = subprocess.run(TORCHRUN + ["-m", "spoofscan", "train", "--resume", *_ddp_args(corpus, killed)],
                             capture_output=True, text=True, timeout=600, env=DDP_ENV)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert [r["epoch"] for r in _metrics_rows(killed)] == [1, 2]
    assert _metrics_rows(killed) == _metrics_rows(straight)
    a, b = _weights(straight / "last.safetensors"), _weights(killed / "last.safetensors")
    assert a.keys() == b.keys()
    for k in a:  # exact: each rank gets the same seeded batches as in the uninterrupted run
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


# ---------------------------------------------------------------------------- crops of partly fake clips


def _partial(segments=((2.0, 3.0),), label="spoof") -> Record:
    """A clip of ``label`` with fake passages ``segments`` (seconds)."""
    return Record("t", "t.flac", label, segments=segments)


@pytest.mark.parametrize("start, seconds, label", [
    (0.0, 1.0, "bonafide"),  # wholly in the real speech before the passage
    (1.0, 1.0, "bonafide"),  # ends where the passage starts: touching is no overlap
    (3.0, 1.0, "bonafide"),  # starts where it ends
    (1.05, 1.0, "bonafide"),  # 5 % fake: under PARTIAL_MIN_SHARE
    (2.95, 1.0, "bonafide"),  # 5 % fake, at the passage's end
    (1.2, 1.0, "spoof"),  # 20 % fake
    (2.0, 1.0, "spoof"),  # the passage itself
    (2.5, 2.0, "spoof"),  # a quarter fake
    (0.0, 5.0, "spoof"),  # the whole clip: 20 % fake
])
def test_a_crop_of_a_partly_fake_clip_is_labelled_by_the_share_of_fake_it_holds(start, seconds, label):
    from spoofscan.training.data import PARTIAL_MIN_SHARE, crop_label

    assert PARTIAL_MIN_SHARE == 0.1  # the cases above sit on both sides of this share
    assert crop_label(_partial(), start, seconds) == label


def test_crop_label_at_the_threshold_and_over_several_passages_and_without_passages():
    from spoofscan.training.data import PARTIAL_MIN_SHARE, crop_label

    edge = 1.0 + PARTIAL_MIN_SHARE  # a 1-s crop from here ends PARTIAL_MIN_SHARE s into the passage at 2.0
    assert crop_label(_partial(), edge + 1e-9, 1.0) == "spoof"
    assert crop_label(_partial(), edge - 1e-3, 1.0) == "bonafide"
    two = _partial(((1.0, 1.06), (1.9, 1.96)))  # 6 % and 6 % of a crop of 1.0-2.0: 12 % together
    assert crop_label(two, 1.0, 1.0) == "spoof" and crop_label(two, 1.03, 1.0) == "bonafide"  # 3 % + 6 %
    for label in ("bonafide", "spoof"):  # a clip without passages: its own label, wherever the crop
        assert crop_label(_partial((), label), 0.0, 1.0) == crop_label(_partial((), label), 7.0, 1.0) == label


def test_the_crop_dataset_labels_each_crop_of_a_partly_fake_clip_by_what_it_holds(tmp_path):
    """The clip is a ramp, so a crop's first sample says where it starts; 1-s crops of a 4-s clip whose
    last 1.5 s are fake are real, fake or in between, as crop_label says for that start."""
    import soundfile as sf

    from spoofscan.labels import LABEL_INDEX
    from spoofscan.training.data import CropDataset, crop_label

    n = 4 * 16000
    sf.write(tmp_path / "ramp.wav", np.linspace(-0.9, 0.9, n).astype(np.float32), 16000, subtype="FLOAT")
    record = Record("ramp", str(tmp_path / "ramp.wav"), "spoof", segments=((2.5, 4.0),))
    data = CropDataset([record], SMALL_FEATURES, seed=0)
    targets = set()
    for epoch in range(40):
        wave, target = data[epoch, 0]
        offset = int(round((float(wave[0]) + 0.9) / 1.8 * (n - 1)))
        assert float(target) == LABEL_INDEX[crop_label(record, offset / 16000, 1.0)], offset
        targets.add(float(target))
    assert targets == {0.0, 1.0}  # both kinds of crop were drawn


def test_training_progress_in_a_log_file_is_a_few_lines_not_one_per_step(corpus, tmp_path, capsys):
    """Under pytest standard error is not a terminal, as in a log file: the epoch bar (whose loss
    changes every step) is written as whole lines, its first and last state, not redrawn per step."""
    result = fit(tiny_config(corpus, tmp_path / "run", epochs=1, progress=True))
    assert result.history[0]["steps"] > 2
    err = capsys.readouterr().err
    assert "\r" not in err
    bar_lines = [line for line in err.splitlines() if line.startswith("epoch 1/1:") and "it" in line]
    assert 1 <= len(bar_lines) <= 2, err
