"""Training the encoder model: the feature cache (the windows prediction scores, keyed by the encoder's
weights, the clip's bytes and the window settings, reused), dev scores from the cache equal to the
checkpoint's through ``predict`` (PyTorch and ONNX), the cached run end to end (learning, a second run
computing nothing, resume), fine-tuning without the cache, the recipe through the CLI.

Every encoder is the tiny random ``whisper-mini-sls``; the audio is generated (tests/synth.py).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
import torch
from encoder_support import FEATURES, MINI, mini_model, write_hf_whisper
from synth import make_corpus

import spoofscan
from spoofscan.audio import load_audio
from spoofscan.calibration import Calibration
from spoofscan.checkpoint import load_checkpoint, make_card, read_card, save_checkpoint
from spoofscan.cli import main
from spoofscan.datasets import load_records
from spoofscan.errors import SpoofscanError
from spoofscan.fileio import file_sha256
from spoofscan.frontend.config import FeatureConfig
from spoofscan.frontend.windows import repeat_pad, window_starts
from spoofscan.models import ModelConfig
from spoofscan.models.ssl import encoder_digest
from spoofscan.training import TrainConfig, fit
from spoofscan.training.encoder_cache import EncoderCache, cached_clip_scores
from spoofscan.training.loop import score_records

CPU = torch.device("cpu")
# cached float16 hidden states against the float32 path, in logits: measured 4.4e-4 on scores spread over 0.66
FLOAT16_LOGIT_TOLERANCE = 5e-3


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Clips of 0.6 to 2.6 s: one to five 1-s windows each, a short one repeat-padded."""
    return make_corpus(tmp_path_factory.mktemp("corpus"), {"train": 12, "dev": 5}, seconds=(0.6, 2.6), seed=4)


def config(corpus, out, **kw) -> TrainConfig:
    base = dict(train=f"csv:{corpus}:train", dev=f"csv:{corpus}:dev", out=str(out), model=MINI.to_dict(),
                features=FEATURES.to_dict(), epochs=3, batch_size=8, lr=3e-3, num_workers=0, device="cpu",
                progress=False, seed=1, encoder_weights="random", feature_cache=str(out.parent / "cache"))
    base.update(kw)
    return TrainConfig.from_dict(base)


def _entries(folder) -> dict:
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*.npy")}


# ------------------------------------------------------------------ the cache


def test_the_cache_holds_every_window_predict_scores_keyed_and_reused(corpus, tmp_path):
    model = mini_model()
    records = load_records(f"csv:{corpus}:dev")
    cache = EncoderCache(model, tmp_path)
    clips = cache.prepare(records, CPU)
    assert cache.folder == tmp_path / "features" / encoder_digest(model)[:16]
    win, hop = FEATURES.window_samples, FEATURES.hop_samples
    counts = [len(window_starts(len(load_audio(r.path)), win, hop)) for r in records]
    assert [c.windows for c in clips] == counts and cache.computed == sum(counts) and max(counts) >= 3
    for rec, c in zip(records[:3], clips):
        states = np.load(c.file, mmap_mode="r")
        assert c.file.parent == cache.folder and len(c.file.stem) == 64
        assert states.dtype == np.float16 and states.shape == (c.windows, 3, 50, 32)
        audio = load_audio(rec.path)  # the windows predict cuts: every sample covered, short clips repeated
        cut = np.stack([repeat_pad(audio[s:s + win], win) for s in window_starts(len(audio), win, hop)])
        with torch.no_grad():
            want = model.encode(torch.from_numpy(cut)).numpy()
        np.testing.assert_allclose(states.astype(np.float32), want, rtol=2e-3, atol=2e-3)

    again = EncoderCache(mini_model(), tmp_path)  # the same weights: everything is found
    before = _entries(cache.folder)
    assert [c.windows for c in again.prepare(records, CPU)] == counts
    assert again.computed == 0 and again.reused == len(records) and _entries(cache.folder) == before

    edited = tmp_path / "edited.wav"  # another clip's bytes: another entry
    sf.write(edited, 0.5 * load_audio(records[0].path), 16_000, subtype="PCM_16")
    assert again.key(edited) != again.key(records[0].path)
    other_hop = EncoderCache(mini_model(features=replace(FEATURES, hop_seconds=0.25)), tmp_path)
    assert other_hop.folder == cache.folder and other_hop.key(records[0].path) != again.key(records[0].path)
    other_weights = mini_model(seed=1)
    assert EncoderCache(other_weights, tmp_path).folder != cache.folder

    broken = clips[0].file  # an entry cut short (a crash mid-write of an older version, a full disk) is recomputed
    broken.write_bytes(broken.read_bytes()[:200])
    fresh = EncoderCache(mini_model(), tmp_path)
    fresh.prepare(records, CPU)
    assert fresh.computed == counts[0] and np.load(broken).shape[0] == counts[0]


def test_cached_dev_scores_equal_the_checkpoints_through_predict_in_torch_and_onnx(corpus, tmp_path):
    from spoofscan.export import export_onnx

    model = mini_model()
    card = make_card(FEATURES.to_dict(), MINI.to_dict(), Calibration().to_dict())
    save_checkpoint(tmp_path / "m.safetensors", model.checkpoint_state(), card)
    export_onnx(tmp_path / "m.safetensors", tmp_path / "m.onnx")
    records = load_records(f"csv:{corpus}:dev")
    clips = EncoderCache(model, tmp_path).prepare(records, CPU, decode_all=True)
    cached = cached_clip_scores(model, clips, CPU)

    det = spoofscan.load_detector(tmp_path / "m.safetensors", device="cpu")
    through_torch = score_records(det.model, records, CPU)
    onnx = spoofscan.load_detector(tmp_path / "m.onnx")
    through_onnx = np.array([r.score for r in onnx.predict_many([r.path for r in records], score_no_speech=True)])
    assert np.ptp(through_torch) > 0.1  # scores that differ, so that agreement means something
    assert np.abs(cached - through_torch).max() < FLOAT16_LOGIT_TOLERANCE
    assert np.abs(through_onnx - through_torch).max() < 2e-3  # numpy vs torch front end, then the same graph


# ------------------------------------------------------------------ training


def test_a_cached_run_learns_and_a_second_run_reuses_the_cache_and_gets_the_same_weights(corpus, tmp_path):
    first = fit(config(corpus, tmp_path / "a"))
    folder = next((tmp_path / "cache" / "features").iterdir())
    entries = _entries(folder)
    assert len(entries) == 34  # 24 train + 10 dev clips, one entry each
    assert first.metrics["dev_eer"] <= 0.2, first.history
    card = read_card(first.checkpoint)
    assert card["encoder"]["format"] == "random" and folder.name == card["encoder"]["weights_sha256"][:16]
    state, _ = load_checkpoint(first.checkpoint)
    # a random encoder: its LayerNorms (ones, zeros) are exact in float16, its random matrices are not
    assert state["encoder.norm.weight"].dtype == torch.float16 and state["encoder.conv1.weight"].dtype == torch.float32

    second = fit(config(corpus, tmp_path / "b"))
    assert _entries(folder) == entries  # nothing computed again
    a, b = load_checkpoint(first.checkpoint)[0], load_checkpoint(second.checkpoint)[0]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["dev_eer"] for r in first.history] == [r["dev_eer"] for r in second.history]


class Killed(Exception):
    pass


def test_a_cached_run_killed_after_an_epoch_resumes_to_the_same_weights(corpus, tmp_path):
    straight = fit(config(corpus, tmp_path / "straight"))

    def die(row):
        if row["epoch"] == 1:
            raise Killed

    with pytest.raises(Killed):
        fit(config(corpus, tmp_path / "killed"), on_epoch_end=die)
    resumed = fit(config(corpus, tmp_path / "killed"), resume=True)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    a = load_checkpoint(straight.run_dir / "last.safetensors")[0]
    b = load_checkpoint(resumed.run_dir / "last.safetensors")[0]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_fine_tuning_trains_the_top_block_end_to_end_without_the_cache(corpus, tmp_path):
    cfg = config(corpus, tmp_path / "run", epochs=1, model={**MINI.to_dict(), "trainable_layers": 1})
    result = fit(cfg)
    assert not (tmp_path / "cache").exists()
    torch.manual_seed(cfg.seed)  # the run's initial weights
    from spoofscan.models import create_model

    start = create_model(cfg.model, cfg.features).state_dict()
    end = load_checkpoint(result.run_dir / "last.safetensors")[0]
    changed = {k for k in start if not torch.equal(start[k], end[k].to(start[k].dtype))}
    assert {k for k in changed if k.startswith("encoder.")} and \
        all(k.startswith(("encoder.blocks.1.", "encoder.norm.")) for k in changed if k.startswith("encoder."))
    assert end["encoder.blocks.1.fc1.weight"].dtype == torch.float32  # fine-tuned: float16 would round it
    assert end["encoder.blocks.0.fc1.weight"].dtype == torch.float16 or \
        not torch.equal(start["encoder.blocks.0.fc1.weight"].half().float(), start["encoder.blocks.0.fc1.weight"])


def test_what_goes_with_an_encoder_model_and_what_does_not(corpus, tmp_path):
    with pytest.raises(SpoofscanError, match="cannot be augmented per epoch: set augment off, or fine-tune"):
        config(corpus, tmp_path / "r", augment="standard")
    config(corpus, tmp_path / "r", augment="standard", model={**MINI.to_dict(), "trainable_layers": 1})
    with pytest.raises(SpoofscanError, match="init 'imagenet' is for ResNets"):
        config(corpus, tmp_path / "r", init="imagenet")
    with pytest.raises(SpoofscanError, match="encoder_weights 'random' goes with an encoder model"):
        config(corpus, tmp_path / "r", model="resnet10-mini", features=FeatureConfig().to_dict())


def test_a_run_starts_from_published_weights_and_its_card_names_them(corpus, tmp_path):
    published = mini_model(seed=7).encoder  # float16-exact, as Whisper's published weights are
    with torch.no_grad():
        for block in published.blocks:  # and no key bias, as Whisper has none
            block.qkv.bias[MINI.encoder.d_model:2 * MINI.encoder.d_model] = 0.0
    file = write_hf_whisper(tmp_path / "whisper-mini", published)
    result = fit(config(corpus, tmp_path / "run", epochs=1, encoder_weights=str(file)))
    section = read_card(result.checkpoint)["encoder"]
    assert section["format"] == "safetensors" and section["file"] == "whisper-mini/model.safetensors"
    assert section["sha256"] == file_sha256(file)
    state = load_checkpoint(result.checkpoint)[0]
    for name, value in published.state_dict().items():  # frozen: the published weights, stored exactly in float16
        assert state[f"encoder.{name}"].dtype == torch.float16 and torch.equal(state[f"encoder.{name}"].float(), value)
    with pytest.raises(SpoofscanError, match=r"--resume: the config differs from the saved run in \['encoder_weights"):
        fit(config(corpus, tmp_path / "run", epochs=1, encoder_weights="random"), resume=True)


def test_the_whisper_base_recipe_through_the_cli(corpus, tmp_path, capsys):
    recipe = TrainConfig.from_dict({"recipe": "whisper-base"})
    assert recipe.model == ModelConfig.from_dict({"arch": "encoder", "head_width": 128, "dropout": 0.1})
    assert (recipe.features.frontend, recipe.features.window_seconds, recipe.features.hop_seconds) == ("whisper", 4, 2)
    assert not recipe.augment.active and recipe.encoder_weights == "installed"
    out = tmp_path / "run"
    assert main(["train", "--recipe", "whisper-base", "--model", "whisper-mini-sls", "--encoder-weights", "random",
                 "--feature-cache", str(tmp_path / "cache"), "--train", f"csv:{corpus}:train", "--dev",
                 f"csv:{corpus}:dev", "--out", str(out), "--epochs", "1", "--workers", "0", "--quiet"]) == 0
    card = read_card(out / "best.safetensors")
    assert card["train"]["config"]["recipe"] == "whisper-base" and card["features"]["window_seconds"] == 4.0
    capsys.readouterr()
    assert main(["info", str(out / "best.safetensors")]) == 0
    shown = capsys.readouterr().out
    assert "arch=encoder" in shown and "encoder    format=random" in shown and "weights_sha256=" in shown
    assert json.loads(json.dumps(card["encoder"]))["config"]["d_model"] == 32
    assert os.listdir(tmp_path / "cache" / "features")
