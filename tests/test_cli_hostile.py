"""The command line on hostile ground: outputs that are not regular files, full disks, binary
text files, arguments checked before work, and predict's default length limit."""

from __future__ import annotations

import os
import resource
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from synth import speechlike

from spoofscan.cli import main

RATE = 16_000


def one_line_error(capsys, argv: list) -> str:
    """Run the CLI, expect an error: exit 2 and exactly one line on standard error."""
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    return err


def spoofscan(args: list, **kwargs) -> subprocess.CompletedProcess:
    """``python -m spoofscan ARGS`` in a child process (this process's import path)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    return subprocess.run([sys.executable, "-m", "spoofscan", *map(str, args)], env=env, timeout=120, **kwargs)


@pytest.fixture
def model(tiny_onnx):
    return str(tiny_onnx["onnx"])


@pytest.fixture
def clip(tiny_onnx):
    return str(tiny_onnx["clip"])


# ---------------------------------------------------------------------------- outputs that are not files


def test_an_output_through_a_symbolic_link_keeps_the_link(model, clip, tmp_path):
    """The file a link leads to gets the results; the link stays a link (it used to become a file)."""
    (tmp_path / "results.csv").write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "results.csv")
    null = tmp_path / "null"
    null.symlink_to(os.devnull)
    for target in (link, null):
        assert main(["predict", clip, "--model", model, "-o", str(target), "--format", "csv"]) == 0
        assert target.is_symlink(), target
    assert (tmp_path / "results.csv").read_text().startswith("file,label")
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_an_output_that_is_a_pipe_or_a_device_is_written_into_not_replaced(model, clip, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()), daemon=True)
    reader.start()
    try:
        assert main(["predict", clip, "--model", model, "-o", str(fifo), "--format", "csv"]) == 0
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    finally:
        reader.join(5)  # the writer has closed: the reader sees the end and stops
        if reader.is_alive() and stat.S_ISFIFO(os.lstat(fifo).st_mode):
            try:  # no writer came: let the reader go
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:  # ENXIO: the reader closed its end in between, it is going anyway
                pass
        reader.join(30)
    assert got and got[0].startswith("file,label")
    if os.geteuid() == 0:  # a copy of /dev/null: only root makes device files
        device = tmp_path / "null-copy"
        os.mknod(device, 0o666 | stat.S_IFCHR, os.stat(os.devnull).st_rdev)
        assert main(["predict", clip, "--model", model, "-o", str(device)]) == 0
        assert stat.S_ISCHR(os.lstat(device).st_mode)


def test_an_output_linked_to_standard_output_writes_there(model, clip, tmp_path):
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")
    done = spoofscan(["predict", clip, "--model", model, "-o", link, "--format", "csv"], capture_output=True,
                     text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("file,label") and link.is_symlink()


def test_a_full_device_is_one_line_and_leaves_it_a_device(model, clip, tmp_path, capsys):
    full = tmp_path / "full"
    full.symlink_to("/dev/full")
    err = one_line_error(capsys, ["predict", clip, "--model", model, "-o", full])
    assert "cannot write" in err and "No space left on device" in err and full.is_symlink()


def test_standard_output_on_a_full_disk_is_one_line(model, clip):
    with open("/dev/full", "w") as full:
        done = spoofscan(["predict", clip, "--model", model], stdout=full, stderr=subprocess.PIPE, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip() == "spoofscan predict: error: cannot write to standard output: No space left on device"


def test_a_file_too_large_keeps_the_old_output_and_says_so_in_one_line(model, clip, tmp_path):
    """EFBIG (what a full disk or a quota gives as ENOSPC/EDQUOT): one line, the old file kept,
    no temporary file left behind."""
    out = tmp_path / "out.jsonl"
    out.write_text("the previous results\n")

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (100, resource.RLIM_INFINITY))

    done = spoofscan(["predict", clip, clip, clip, "--model", model, "-o", out, "--format", "jsonl", "--timeline"],
                     capture_output=True, text=True, preexec_fn=small_files)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().endswith("File too large") and len(done.stderr.strip().splitlines()) == 1
    assert out.read_text() == "the previous results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


# ---------------------------------------------------------------------------- text files that are not text


def test_binary_text_files_are_one_line_errors(tmp_path, capsys):
    noise = np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    csv_file = tmp_path / "manifest.csv"
    csv_file.write_bytes(noise)
    assert "not a UTF-8 text CSV file" in one_line_error(capsys, ["corpus", "check", csv_file])
    assert "not a UTF-8 text CSV file" in one_line_error(capsys, ["corpus", "check", tmp_path])
    for suffix in (".yaml", ".toml", ".json"):
        config = tmp_path / f"train{suffix}"
        config.write_bytes(noise)
        err = one_line_error(capsys, ["train", "--config", config, "--train", f"csv:{csv_file}", "--out", tmp_path])
        assert "not UTF-8 text" in err
    (tmp_path / "broken.yaml").write_text("epochs: [1,\n")
    assert "not valid YAML" in one_line_error(capsys, ["train", "--config", tmp_path / "broken.yaml", "--train",
                                                       f"csv:{csv_file}", "--out", tmp_path])
    protocol = tmp_path / "ASVspoof2021.DF.cm.eval.trl.txt"
    protocol.write_bytes(noise)
    from spoofscan.datasets.records import split_lines
    from spoofscan.errors import SpoofscanError

    with pytest.raises(SpoofscanError, match="not a UTF-8 text protocol file"):
        list(split_lines(protocol, ("a", "b")))


# ---------------------------------------------------------------------------- arguments before work


def test_robustness_refuses_an_out_file_before_any_work(model, clip, tmp_path, capsys, monkeypatch):
    import spoofscan.cli.evaluate as evaluate_cli

    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path,label\n{clip},bonafide\n{clip},spoof\n")
    (tmp_path / "report").write_text("a file")
    monkeypatch.setattr(evaluate_cli, "load_detector_from_args", lambda args: pytest.fail("the model was loaded"))
    err = one_line_error(capsys, ["robustness", "--model", model, "--data", f"csv:{manifest}", "--out",
                                  tmp_path / "report"])
    assert "is a file" in err
    assert "unknown" in one_line_error(capsys, ["robustness", "--model", model, "--data", f"csv:{manifest}",
                                                "--out", tmp_path / "r", "--conditions", "gsm,nope"]).lower()


@pytest.mark.parametrize("port", ["-1", "99999", "65536"])
def test_serve_refuses_a_port_before_loading_the_model(port, capsys):
    pytest.importorskip("fastapi")
    err = one_line_error(capsys, ["serve", "--model", "no-such-model.onnx", "--port", port])
    assert f"--port {port} is not a port number" in err


def test_serve_refuses_an_address_in_use_before_loading_the_model(capsys):
    import socket

    pytest.importorskip("fastapi")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        err = one_line_error(capsys, ["serve", "--model", "no-such-model.onnx", "--port", port])
    assert f"cannot listen on 127.0.0.1 port {port}" in err
    # 192.0.2.1 is TEST-NET-1, an address no machine has; a public address needs a key
    err = one_line_error(capsys, ["serve", "--model", "no-such-model.onnx", "--host", "192.0.2.1",
                                  "--allow-public-without-key"])
    assert "cannot listen on 192.0.2.1 port 8000" in err


def test_an_output_that_is_a_socket_is_refused(model, clip, tmp_path, capsys):
    import socket

    path = tmp_path / "socket"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        err = one_line_error(capsys, ["predict", clip, "--model", model, "-o", path])
    assert "not a regular file, a character device or a pipe" in err and stat.S_ISSOCK(os.lstat(path).st_mode)


def test_a_short_api_key_is_refused_for_a_public_address(monkeypatch, capsys):
    from spoofscan.errors import SpoofscanError
    from spoofscan.serve.settings import MIN_PUBLIC_KEY_CHARS, ServeSettings, check_bind

    for key in ("k", "x" * (MIN_PUBLIC_KEY_CHARS - 1)):
        with pytest.raises(SpoofscanError, match=f"at least {MIN_PUBLIC_KEY_CHARS}"):
            check_bind("0.0.0.0", ServeSettings(api_key=key))
        check_bind("127.0.0.1", ServeSettings(api_key=key))  # this machine only: the key is the user's business
    check_bind("0.0.0.0", ServeSettings(api_key="x" * MIN_PUBLIC_KEY_CHARS))
    monkeypatch.setenv("SPOOFSCAN_API_KEY", "k")
    assert "can be guessed" in one_line_error(capsys, ["serve", "--model", "m.onnx", "--host", "0.0.0.0"])


# ---------------------------------------------------------------------------- predict's default limit


def _flac_announcing(path: Path, seconds: float) -> str:
    """A FLAC holding 1 s whose STREAMINFO announces ``seconds``: the header of a long recording."""
    sf.write(path, speechlike(1.0), RATE, subtype="PCM_16")
    b = bytearray(path.read_bytes())
    fields = int.from_bytes(b[18:26], "big")
    b[18:26] = ((fields & ~((1 << 36) - 1)) | int(seconds * RATE)).to_bytes(8, "big")
    path.write_bytes(bytes(b))
    return str(path)


def test_predict_has_a_default_length_limit_that_can_be_lifted(model, tmp_path, capsys):
    from spoofscan.cli import build_parser
    from spoofscan.cli.common import PREDICT_MAX_SECONDS

    assert build_parser().parse_args(["predict", "x.wav", "--model", "m"]).max_seconds == PREDICT_MAX_SECONDS == 14400
    day = _flac_announcing(tmp_path / "day.flac", 24 * 3600)
    assert main(["predict", day, "--model", model]) == 1
    assert "too long: the header announces 86400.0 s, more than the configured maximum of 14400 s" in \
        capsys.readouterr().out
    assert main(["predict", day, "--model", model, "--max-seconds", "0"]) == 1  # no limit: decoded, then found cut
    assert "truncated" in capsys.readouterr().out
    assert main(["predict", _flac_announcing(tmp_path / "h.flac", 3 * 3600), "--model", model]) == 1
    assert "truncated" in capsys.readouterr().out  # 3 hours are under the default limit
