"""Device names (spoofscan.devices): the one parser of --device, and the torch device a name stands for."""

from __future__ import annotations

import pytest

from spoofscan.errors import SpoofscanError


def test_resolve_device(monkeypatch):
    import torch

    from spoofscan.devices import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    for bad in ("tpu", "cpu:0", "cuda:x", "gpu"):
        with pytest.raises(SpoofscanError, match=f"unknown device '{bad}'.*auto, cpu, cuda, mps"):
            resolve_device(bad)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(SpoofscanError, match="no CUDA GPU"):
        resolve_device("cuda:0")
    with pytest.raises(SpoofscanError, match="no Apple MPS"):
        resolve_device("mps")


def test_parse_device_names_and_refusals():
    from spoofscan.devices import CUDA_DEVICES, parse_device

    assert parse_device("cuda:1") == ("cuda", 1) and parse_device("cpu") == ("cpu", None)
    assert parse_device("auto") == ("auto", None) and parse_device("mps") == ("mps", None)
    for bad in ("mps:0", "cuda:-1", "cuda:x", "CPU"):
        with pytest.raises(SpoofscanError,
                           match=f"unknown device '{bad}' \\(choose from: auto, cpu, cuda, mps, or cuda:N\\)"):
            parse_device(bad)
    with pytest.raises(SpoofscanError, match="unknown ONNX device 'mps' \\(choose from: auto, cpu, cuda, or cuda:N\\)"):
        parse_device("mps", CUDA_DEVICES, what="ONNX device")
