"""The backends behind :class:`spoofscan.detector.Detector`: each implements ``window_scores``
(and ``span_scores``, the optional path that computes overlapping windows' shared frames once).

- :mod:`.torch`: :class:`~spoofscan.backends.torch.TorchDetector`, PyTorch checkpoints
  (``.safetensors``), the model's own front end on the device;
- :mod:`.onnx`: :class:`~spoofscan.backends.onnx.OnnxDetector`, exported ``.onnx`` models run by
  ONNX Runtime with the numpy front end; never imports torch.

Import the one you need from its module (this package imports neither).
"""
