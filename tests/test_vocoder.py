"""The neural vocoders (spoofscan.vocoder): shapes, a few training steps on tiny data that beat an
untrained network, exact reruns and resumes, strict loading, the ``vocoder train`` command, and
the corpus generators that vocode with a trained one (NeuralVocoderGenerator)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from synth import voiced_clip

from spoofscan.corpus.generators import Request
from spoofscan.corpus.generators.neural_vocoder import NeuralVocoderGenerator
from spoofscan.errors import SpoofscanError

torch = pytest.importorskip("torch")
from spoofscan.vocoder import (VocoderConfig, VocoderTrainConfig, build_vocoder, load_vocoder,  # noqa: E402
                               read_vocoder_card, train_vocoder)

RATE = 16_000

TINY = {"istft": VocoderConfig(arch="istft", n_mels=32, n_fft=256, hop_length=64, channels=32, blocks=1),
        "upsample": VocoderConfig(arch="upsample", n_mels=32, n_fft=256, hop_length=64, channels=32,
                                  upsample_rates=(4, 4, 4), kernels=(3,), dilations=(1,))}


def _waves(n: int = 4, seed: int = 0) -> list:
    return [voiced_clip(0.6, seed + i) for i in range(n)]


def _train(out, arch="istft", steps=8, **kw):
    cfg = VocoderTrainConfig(steps=steps, batch_size=4, segment_seconds=0.25, threads=1, save_every=3, log_every=1,
                             lr=3e-3, **kw)
    return train_vocoder(_waves(), TINY[arch], cfg, out, check_waves=_waves(2, seed=10))


@pytest.mark.parametrize("arch", ["istft", "upsample"])
def test_vocoder_shapes(arch):
    torch.manual_seed(0)
    model = build_vocoder(TINY[arch])
    mel = model.mel(torch.zeros(2, 1000))
    assert mel.shape == (2, 32, 1000 // 64 + 1)
    y = model(mel)
    assert y.shape[0] == 2 and 1000 - 64 <= y.shape[1] <= 1000 + 64 and torch.isfinite(y).all()


@pytest.mark.parametrize("arch", ["istft", "upsample"])
def test_vocoder_learns_and_beats_an_untrained_one(tmp_path, arch):
    result = _train(tmp_path / arch, arch=arch, steps=40)
    losses = [h["loss"] for h in result.history]
    assert len(losses) == 40 and np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])
    assert result.metrics["mel_l1"] < 0.8 * result.metrics["mel_l1_untrained"]  # the listen-free check
    card = read_vocoder_card(tmp_path / arch)
    assert card["format"] == "spoofscan-vocoder" and card["step"] == 40 and card["model"]["arch"] == arch
    assert (tmp_path / arch / "metrics.csv").read_text().count("\n") == 41


def test_vocoder_training_is_reproducible_and_resumes_exactly(tmp_path):
    straight = _train(tmp_path / "a")
    again = _train(tmp_path / "b")
    weights = lambda p: load_vocoder(p)[0].state_dict()  # noqa: E731
    a, b = weights(straight.path), weights(again.path)
    # exact, not within a tolerance: the same seeds, data order and thread count (threads=1) in one
    # process give the same sums; this bit-for-bit rerun and resume is what the trainer promises
    assert all(torch.equal(a[k], b[k]) for k in a)

    cfg = VocoderTrainConfig(steps=8, batch_size=4, segment_seconds=0.25, threads=1, save_every=3, log_every=1, lr=3e-3)

    def stop_at_step_5(line):
        if "step 5/" in line:
            raise KeyboardInterrupt  # a run killed after the checkpoint of step 3

    with pytest.raises(KeyboardInterrupt):
        train_vocoder(_waves(), TINY["istft"], cfg, tmp_path / "c", log=stop_at_step_5)
    lines = []
    resumed = train_vocoder(_waves(), TINY["istft"], cfg, tmp_path / "c", resume=True, log=lines.append,
                            check_waves=_waves(2, seed=10))
    assert lines[0].startswith("vocoder: resuming at step 3")
    c = weights(resumed.path)
    assert all(torch.equal(a[k], c[k]) for k in a)
    assert resumed.history == straight.history and resumed.metrics == straight.metrics


def test_vocoder_checkpoint_loads_strictly(tmp_path):
    from safetensors.torch import load_file, save_file

    from spoofscan.checkpoint import CARD_KEY

    result = _train(tmp_path / "v", steps=2)
    model, card = load_vocoder(result.path)
    assert card["train"]["steps"] == 2
    tensors = load_file(str(result.path))
    meta = {CARD_KEY: json.dumps(card)}
    tensors.pop(next(iter(tensors)))
    save_file(tensors, str(tmp_path / "missing.safetensors"), metadata=meta)
    with pytest.raises(RuntimeError, match="Missing key"):
        load_vocoder(tmp_path / "missing.safetensors")
    detector_card = {**card, "format": "spoofscan-checkpoint"}
    save_file(load_file(str(result.path)), str(tmp_path / "other.safetensors"),
              metadata={CARD_KEY: json.dumps(detector_card)})
    with pytest.raises(SpoofscanError, match="expected spoofscan-vocoder"):
        load_vocoder(tmp_path / "other.safetensors")


def test_neural_generator_vocodes_with_a_trained_vocoder(tmp_path):
    result = _train(tmp_path / "v", steps=3)
    with pytest.raises(SpoofscanError, match="no trained vocoder"):
        NeuralVocoderGenerator("vocos", "copy").synthesize(Request(audio=voiced_clip(), rate=RATE))
    src = voiced_clip(0.9, seed=3)
    outs = {}
    for config in ("copy", "smooth"):
        g = NeuralVocoderGenerator("vocos", config).bound(result.path, key="k")
        assert g.fingerprint() == "k" and g.name == f"vocos/{config}" and g.family == "vocos"
        y, rate = g.synthesize(Request(audio=src, rate=RATE, seed=1))
        again, _ = g.synthesize(Request(audio=src, rate=RATE, seed=1))
        assert rate == RATE and len(y) == len(src) and np.isfinite(y).all() and np.array_equal(y, again)
        outs[config] = y
    assert not np.array_equal(outs["copy"], outs["smooth"])


def test_cli_vocoder_train(tmp_path, capsys):
    import soundfile as sf

    from spoofscan.cli import main

    for name, seed in (("train", 0), ("check", 20)):
        (tmp_path / name).mkdir()
        for i, w in enumerate(_waves(3, seed=seed)):
            sf.write(tmp_path / name / f"{i}.wav", w, RATE)
    out = tmp_path / "voc"
    args = ["vocoder", "train", str(out), "--data", str(tmp_path / "train"), "--check", str(tmp_path / "check"),
            "--family", "hifigan", "--steps", "2", "--batch-size", "2", "--threads", "1", "--device", "cpu", "--quiet"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "listen-free check on 3 held-out clips" in printed and str(out / "vocoder.safetensors") in printed
    card = read_vocoder_card(out)
    assert card["model"]["arch"] == "upsample" and card["step"] == 2 and card["data"]["clips"] == 3
    assert main(["vocoder", "train", str(out), "--data", str(tmp_path / "train"), "--family", "wavenet"]) == 2
    assert card["train"]["lr"] == 2e-3  # the recipe's; --lr changes it, and a vocoder worse than untrained fails
    hot = ["vocoder", "train", str(tmp_path / "hot"), "--data", str(tmp_path / "train"), "--check",
           str(tmp_path / "check"), "--family", "hifigan", "--steps", "2", "--batch-size", "2", "--lr", "10",
           "--threads", "1", "--device", "cpu", "--quiet"]
    assert main(hot) == 2
    assert "failed its check" in capsys.readouterr().err
    assert read_vocoder_card(tmp_path / "hot")["train"]["lr"] == 10


def test_a_diverging_training_stops_at_once_naming_the_step_and_the_losses(tmp_path):
    """A learning rate far too high makes the loss jump to several times its best within a few steps; the
    training stops there (not after its last step, hours later on a real budget), saying what to change."""
    cfg = VocoderTrainConfig(steps=8, batch_size=4, segment_seconds=0.25, threads=1, save_every=3, log_every=1,
                             lr=10.0)
    with pytest.raises(SpoofscanError, match=r"vocoder training diverged at step [23] of 8: loss") as err:
        train_vocoder(_waves(), TINY["istft"], cfg, tmp_path / "voc")
    assert "learning rate (now 10)" in str(err.value)
    assert not (tmp_path / "voc" / "vocoder.safetensors").exists()


def test_check_not_diverging_on_the_quality_hifigan_curve_that_diverged():
    """The loss curve of the run that motivated the check (window means every 25 steps): the point at step 325
    is the first over twice the lowest; a noisy but falling curve passes, and so does its first point."""
    from spoofscan.vocoder.train import check_not_diverging

    cfg = VocoderTrainConfig(steps=4000, lr=2e-3)
    curve = [(25, 6.14), (50, 4.9), (100, 4.1), (275, 3.79), (300, 4.25), (325, 15.4), (350, 22.0)]
    history = []
    for step, loss in curve:
        history.append({"step": step, "loss": loss})
        if step < 325:
            check_not_diverging(history, cfg, Path("voc"))
        else:
            with pytest.raises(SpoofscanError, match="at step 325 of 4000: loss 15.4 against 3.79 at step 275"):
                check_not_diverging(history, cfg, Path("voc"))
            break
    with pytest.raises(SpoofscanError, match="loss nan"):
        check_not_diverging([{"step": 25, "loss": 6.0}, {"step": 50, "loss": float("nan")}], cfg, Path("voc"))


def test_a_vocoder_that_learned_nothing_is_refused_before_its_fakes_are_made(tmp_path):
    """A training whose copies end no closer to the originals than an untrained vocoder's (here: a learning rate
    too small to move a weight) fails the listen-free check when it ends, and the corpus refuses the cached
    weights too, naming both distances, instead of making a family of noise. A sound one passes the same check."""
    from spoofscan.corpus.vocoder_jobs import VocoderJob, check_trained, is_trained

    def job(name, lr):
        cfg = VocoderTrainConfig(steps=8, batch_size=4, segment_seconds=0.25, threads=1, save_every=3, log_every=1,
                                 lr=lr)
        return VocoderJob("hifigan", name, tmp_path / name, (), (), TINY["upsample"], cfg)

    def train(j):
        train_vocoder(_waves(), j.model, j.train, j.folder, check_waves=_waves(2, seed=10), data={"key": j.key})

    sound, stuck = job("sound", 0.1), job("stuck", 1e-12)
    train(sound)
    check_trained(sound)
    with pytest.raises(SpoofscanError, match="failed its check") as err:
        train(stuck)
    assert "metrics.csv" in str(err.value) and "learning rate" in str(err.value)
    assert is_trained(stuck)  # the weights stay for a look, and a later build refuses them
    metrics = read_vocoder_card(stuck.folder)["metrics"]
    assert not metrics["mel_l1"] < metrics["mel_l1_untrained"]
    with pytest.raises(SpoofscanError, match="hifigan vocoder .* failed its check") as err:
        check_trained(stuck)
    assert f"{metrics['mel_l1']:.3f}" in str(err.value) and f"{metrics['mel_l1_untrained']:.3f}" in str(err.value)
    assert "metrics.csv" in str(err.value) and "spoofscan.vocoder.recipes" in str(err.value)
