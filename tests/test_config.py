"""Configs (spoofscan.config): frozen dataclasses built strictly from dicts, read from YAML, TOML
or JSON files, with flags over the file's values; the training config as the example users write."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from spoofscan.augment import AUGMENT_PRESETS
from spoofscan.cli import main
from spoofscan.config import Config, config_from_dict, load_config, merge_mappings
from spoofscan.errors import SpoofscanError
from spoofscan.models import model_preset
from spoofscan.training import TrainConfig, load_train_config


@dataclass(frozen=True)
class Window(Config):
    seconds: float = 1.0
    sizes: tuple = (1, 2)
    extra: dict | None = None

    @classmethod
    def field_values(cls, d: dict) -> dict:
        return {**d, "seconds": float(d.get("seconds", 1.0))}  # "2" in a file becomes 2.0 here, not in __init__


def test_from_dict_refuses_unknown_keys_and_turns_lists_into_tuples():
    assert config_from_dict(Window, {"sizes": [3, 4], "seconds": "2"}) == Window(seconds=2.0, sizes=(3, 4))
    assert Window.from_dict(json.loads(json.dumps(Window(sizes=(5,)).to_dict()))) == Window(sizes=(5,))
    with pytest.raises(SpoofscanError, match=r"unknown Window field\(s\) \['size'\] \(valid: seconds, sizes, extra\)"):
        Window.from_dict({"size": 3})


def test_load_config_reads_yaml_toml_and_json_and_flags_win(tmp_path):
    (tmp_path / "w.yaml").write_text("seconds: 2\nsizes: [1, 2, 3]\nextra: {a: 1, b: {c: 2}}\n")
    (tmp_path / "w.toml").write_text("seconds = 2.0\nsizes = [1, 2, 3]\n[extra]\na = 1\n")
    (tmp_path / "w.json").write_text('{"seconds": 1e-06, "sizes": [1, 2, 3]}')  # 1e-06: a number, not a string
    assert load_config(Window, tmp_path / "w.yaml") == Window(2.0, (1, 2, 3), {"a": 1, "b": {"c": 2}})
    assert load_config(Window, tmp_path / "w.toml").extra == {"a": 1}
    assert load_config(Window, tmp_path / "w.json").seconds == 1e-06
    changed = load_config(Window, tmp_path / "w.yaml", seconds=3.0, sizes=None, extra={"b": {"d": 4}})
    assert changed == Window(3.0, (1, 2, 3), {"a": 1, "b": {"c": 2, "d": 4}})  # None: not given; a mapping merges
    assert load_config(Window) == Window() and load_config(Window, None, seconds=5) == Window(seconds=5.0)


def test_load_config_errors_name_the_file_and_the_choices(tmp_path):
    with pytest.raises(SpoofscanError, match="config file '.*absent.yaml': no such file"):
        load_config(Window, tmp_path / "absent.yaml")
    (tmp_path / "w.ini").write_text("seconds = 2\n")
    with pytest.raises(SpoofscanError, match=r"config file type '\.ini'.*\.yaml, \.yml, \.toml, \.json"):
        load_config(Window, tmp_path / "w.ini")
    (tmp_path / "w.json").write_text("{seconds: 2}")
    with pytest.raises(SpoofscanError, match="config file '.*w.json': not valid JSON"):
        load_config(Window, tmp_path / "w.json")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(SpoofscanError, match="config file '.*list.yaml': expected a mapping of Window fields"):
        load_config(Window, tmp_path / "list.yaml")


def test_merge_mappings_merges_mappings_and_replaces_the_rest():
    base = {"a": {"x": 1, "y": {"z": 2}}, "b": [1], "c": 3}
    merged = merge_mappings(base, {"a": {"y": {"w": 5}}, "b": [2], "d": {"e": 1}})
    assert merged == {"a": {"x": 1, "y": {"z": 2, "w": 5}}, "b": [2], "c": 3, "d": {"e": 1}}
    assert base == {"a": {"x": 1, "y": {"z": 2}}, "b": [1], "c": 3}  # left as it was


def test_train_config_from_files_and_flags(tmp_path, capsys):
    corpus = tmp_path / "manifest.csv"  # only named: nothing here reads the data
    cfg_file = tmp_path / "train.yaml"
    cfg_file.write_text(f"train: csv:{corpus}:train\ndev: csv:{corpus}:dev\nmodel: resnet10-mini\nepochs: 7\n"
                        "features:\n  n_mels: 40\n  window_seconds: 1.0\n  hop_seconds: 0.5\n")
    cfg = load_train_config(cfg_file, epochs=2, lr=None)
    assert cfg.epochs == 2 and cfg.features.n_mels == 40 and cfg.model.width == 8
    toml = tmp_path / "train.toml"
    toml.write_text('model = "resnet18-half"\nbalance = "sampler"\n')
    assert load_train_config(toml).balance == "sampler"
    aug = tmp_path / "aug.yaml"
    aug.write_text("augment:\n  noise: {p: 0.3, snr_db: [5, 20], kinds: [babble]}\n  specaugment:\n    p: 0.5\n")
    cfg = load_train_config(aug)
    assert cfg.augment.noise.kinds == ("babble",) and cfg.augment.specaugment.p == 0.5 and cfg.augment.codec.p == 0
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg  # config.json round trip
    assert load_train_config(aug, augment="full").augment.rawboost.p > 0  # --augment PRESET replaces it
    assert not TrainConfig().augment.active  # off by default
    with pytest.raises(SpoofscanError, match="unknown NoiseAugment field"):
        TrainConfig.from_dict({"augment": {"noise": {"snr": [1, 2]}}})
    with pytest.raises(SpoofscanError, match="choose from"):
        TrainConfig(balance="magic")
    assert TrainConfig.from_dict({"model": "resnet10-mini", "augment": "rawboost"}) == TrainConfig(
        model=model_preset("resnet10-mini"), augment=AUGMENT_PRESETS["rawboost"])  # names become configs in from_dict
    for loose in ({"model": "resnet10-mini"}, {"features": {"n_mels": 40}}, {"augment": "rawboost"}):
        with pytest.raises(SpoofscanError, match="use TrainConfig.from_dict"):
            TrainConfig(**loose)  # the constructor takes configs only, and says where names and mappings go
    with pytest.raises(SpoofscanError, match="unknown TrainConfig field"):
        TrainConfig.from_dict({"epoch": 3})
    assert main(["train", "--config", str(cfg_file), "--epochs", "0"]) == 2  # refused before the data is read
    assert "epochs must be at least 1, got 0" in capsys.readouterr().err
    assert main(["train", "--config", str(cfg_file), "--save-every-steps", "-5"]) == 2
    assert "save_every_steps must be 0 (at epoch ends only) or more, got -5" in capsys.readouterr().err
    assert load_train_config(cfg_file, save_every_steps=50).save_every_steps == 50  # the flag's field
    assert main(["train", "--config", str(cfg_file), "--augment", "heavy"]) == 2  # unknown preset: a usage error
    assert "unknown augment preset 'heavy'" in capsys.readouterr().err
