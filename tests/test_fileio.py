"""Writing files (spoofscan.fileio): outputs appear whole or not at all, and never replace an
input; the commands that write (predict -o, export, evaluate --out) go through it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from helpers import one_line_error
from synth import write_speech

from spoofscan.errors import SpoofscanError
from spoofscan.fileio import atomic_open, atomic_write, atomic_write_text, refuse_overwrite, same_file


def _leftovers(folder: Path) -> list[str]:
    """Temporary files (hidden, beside their target) left in ``folder``."""
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


# ---------------------------------------------------------------------------- the functions


def test_atomic_writes_replace_the_target_whole_with_the_usual_permissions(tmp_path):
    target = tmp_path / "new" / "deeper" / "out.txt"  # missing folders are made
    atomic_write_text(target, "first\n")
    assert target.read_text() == "first\n"
    atomic_write(target, lambda tmp: Path(tmp).write_bytes(b"second\n"))
    assert target.read_bytes() == b"second\n"
    with atomic_open(target) as f:
        f.write("third\n")
    assert target.read_text() == "third\n" and _leftovers(target.parent) == []
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600


def test_a_failed_write_leaves_the_target_as_it_was(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("before\n")

    def fails(tmp):
        Path(tmp).write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(SpoofscanError, match="cannot write .*out.txt.*No space left on device"):
        atomic_write(target, fails)
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(target) as f:
            f.write("half")
            raise KeyboardInterrupt
    assert target.read_text() == "before\n" and _leftovers(tmp_path) == []
    (tmp_path / "folder").mkdir()
    with pytest.raises(SpoofscanError, match="is a folder; give a file name"):
        atomic_write_text(tmp_path / "folder", "x")


def test_refuse_overwrite_knows_a_file_under_any_name(tmp_path):
    data = tmp_path / "in.flac"
    data.write_bytes(b"audio")
    os.link(data, tmp_path / "hard.flac")
    os.symlink(data, tmp_path / "soft.flac")
    for name in (data, tmp_path / "." / "in.flac", tmp_path / "hard.flac", tmp_path / "soft.flac"):
        assert same_file(name, data)
        with pytest.raises(SpoofscanError, match=r"--output '.*' is also an input \('.*in.flac'\)"):
            refuse_overwrite([name], [None, data], what="--output")
    assert not same_file(tmp_path / "other.flac", data)
    refuse_overwrite([tmp_path / "other.flac"], [data])  # a new file: fine
    with pytest.raises(SpoofscanError, match="is a folder"):
        refuse_overwrite([tmp_path], [data])


# ---------------------------------------------------------------------------- the commands


def test_output_never_destroys_an_input_or_the_model(tiny_checkpoint, tmp_path, capsys):
    clip = write_speech(tmp_path / "in.flac", seconds=1.2)
    before, model_before = Path(clip).read_bytes(), tiny_checkpoint.read_bytes()
    for target in (clip, tiny_checkpoint, tmp_path / "." / "in.flac"):
        err = one_line_error(capsys, ["predict", clip, "--model", tiny_checkpoint, "-o", target])
        assert "is also an input" in err
    os.link(clip, tmp_path / "hardlink.flac")  # the same file under another name
    assert "is also an input" in one_line_error(capsys, ["predict", clip, "--model", tiny_checkpoint,
                                                         "-o", tmp_path / "hardlink.flac"])
    assert Path(clip).read_bytes() == before and tiny_checkpoint.read_bytes() == model_before
    assert "is also an input" in one_line_error(capsys, ["export", tiny_checkpoint, tiny_checkpoint])
    assert tiny_checkpoint.read_bytes() == model_before


def test_output_appears_whole_or_not_at_all(tiny_checkpoint, tmp_path, monkeypatch):
    import spoofscan.cli as cli
    import spoofscan.cli.predict as predict_cli

    clip = write_speech(tmp_path / "a.wav")
    out = tmp_path / "results.csv"
    out.write_text("the previous results\n")

    def dies(det, files, args, handle, rttm=None):
        handle.write("half a row")
        raise KeyboardInterrupt

    monkeypatch.setattr(predict_cli, "_write_predictions", dies)
    assert cli.main(["predict", clip, "--model", str(tiny_checkpoint), "-o", str(out)]) == 130
    assert out.read_text() == "the previous results\n"
    assert _leftovers(tmp_path) == []  # no temporary file left behind
    monkeypatch.undo()
    assert cli.main(["predict", clip, "--model", str(tiny_checkpoint), "-o", str(out), "--format", "csv"]) == 0
    assert out.read_text().startswith("file,label,p_fake")


def test_evaluate_refuses_a_report_file_that_is_an_input(tiny_checkpoint, tmp_path, capsys):
    clip = write_speech(tmp_path / "a.wav")
    (tmp_path / "report.json").write_text(f"path,label\n{clip},bonafide\n")  # a manifest named like a report file
    err = one_line_error(capsys, ["evaluate", "--model", tiny_checkpoint, "--protocol",
                                  f"csv:{tmp_path / 'report.json'}", "--out", tmp_path])
    assert "is also an input" in err and (tmp_path / "report.json").read_text().startswith("path,label")
