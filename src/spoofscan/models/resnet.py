"""ResNet on the front end's spectrogram, readable top to bottom.

One parametrised network: ResNet-18 by default, narrower or shallower variants through
:class:`~spoofscan.models.config.ModelConfig`. The model owns its front end
(:class:`spoofscan.frontend.torch.Frontend`): ``model(waves)`` goes from waveform to logit.
Parameter names follow torchvision's ``resnet18`` so its ImageNet state dict loads
(:func:`load_pretrained`): the RGB stem is summed to one input channel and the 1000-class
``fc`` is replaced by one output, the bona fide logit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import torch
from torch import nn

from ..errors import SpoofscanError, first_line
from ..frontend.config import FeatureConfig
from ..frontend.torch import Frontend
from .config import ModelConfig

# torchvision's public ResNet-18 ImageNet weights (IMAGENET1K_V1)
IMAGENET_URL = "https://download.pytorch.org/models/resnet18-f37072fd.pth"
OWN_PARTS = ("fc.", "frontend.", "wave.")  # what ImageNet weights do not hold: the head, front end, waveform branch


class BasicBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class DetectorNet(nn.Module):
    """What every architecture of :data:`spoofscan.models.ARCHITECTURES` is.

    A network owns its front end (``self.frontend``) and names the inputs its graph takes,
    in order, in ``inputs``: ``"features"`` (the front end's output, (batch, in_chans, rows,
    frames), in_chans being the front end's channel count) and/or ``"wave"`` (the window's
    waveform, (batch, samples) at 16 kHz).
    :meth:`forward_inputs` takes those and is what the ONNX export traces (the torch-free
    runtime computes ``features`` in numpy and feeds the graph by these names);
    :meth:`forward` goes from waveform to logit.

    What training and export ask of a network besides: :meth:`checkpoint_state` (the tensors a
    checkpoint stores), :meth:`card_sections` (what the checkpoint card says of it beyond its
    config), ``caches_hidden_states`` (whether training runs on cached encoder outputs, see
    :mod:`spoofscan.models.ssl`) and ``int8`` (how ``export --int8`` quantises it: ``static``, QDQ
    calibrated on audio, or ``dynamic``, see :mod:`spoofscan.export`).
    """

    inputs: tuple = ("features",)
    caches_hidden_states: bool = False
    int8: str = "static"

    def __init__(self, cfg: ModelConfig, features: FeatureConfig):
        super().__init__()
        self.cfg = cfg
        self.features = features
        self.frontend = Frontend(features)

    def forward(self, waves: torch.Tensor,
                feature_augment: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> torch.Tensor:
        """(batch, samples) float32 16 kHz -> (batch,) bona fide logit.

        ``feature_augment`` (training only) transforms the front end's output before the
        network sees it (SpecAugment).
        """
        feats = self.frontend(waves)
        if feature_augment is not None:
            feats = feature_augment(feats)
        return self.forward_inputs(*[feats if name == "features" else waves for name in self.inputs])

    def forward_inputs(self, *inputs: torch.Tensor) -> torch.Tensor:
        """The graph: the tensors named by :attr:`inputs`, in order -> (batch,) logit."""
        raise NotImplementedError

    def checkpoint_state(self) -> dict:
        """The tensors a checkpoint stores: the state dict."""
        return self.state_dict()

    def card_sections(self) -> dict:
        """Sections the checkpoint card adds for this network (none)."""
        return {}


class ResNet(DetectorNet):
    """Graph input ``features`` (batch, in_chans, rows, frames); output (batch,) bona fide logit."""

    def __init__(self, cfg: ModelConfig, features: FeatureConfig):
        super().__init__(cfg, features)
        w = cfg.width
        self.conv1 = nn.Conv2d(cfg.in_chans, w, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        chans = [w, 2 * w, 4 * w, 8 * w]
        in_ch = w
        for i, (n, ch) in enumerate(zip(cfg.layers, chans)):
            stride = 1 if i == 0 else 2
            blocks = [BasicBlock(in_ch, ch, stride)] + [BasicBlock(ch, ch) for _ in range(n - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            in_ch = ch
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(in_ch, 1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, in_chans, rows, frames) front-end output -> pooled embedding (batch, 8 * width)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward_head(self, emb: torch.Tensor) -> torch.Tensor:
        """(batch, 8 * width) -> (batch,) logit, higher = more bona fide."""
        return self.fc(self.dropout(emb)).squeeze(-1)

    def forward_inputs(self, features: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(features))


def load_pretrained(model: ResNet, source: str | Path) -> None:
    """Initialise ``model`` from torchvision ImageNet ResNet-18 weights, in place.

    ``source`` is ``"imagenet"`` (fetched once through ``torch.hub`` into its cache) or the
    path of a local ``.pth`` file holding torchvision's ``resnet18`` state dict. The stem's
    RGB filters are summed to ``in_chans`` = 1; ``fc`` keeps its fresh initialisation.
    Only the ResNet-18 shape (width 64, layers 2-2-2-2) can take these weights.
    """
    if model.cfg.width != 64 or tuple(model.cfg.layers) != (2, 2, 2, 2):
        raise SpoofscanError(f"ImageNet weights fit only the resnet18 shape, not {model.cfg}")
    if str(source) == "imagenet":
        try:
            state = torch.hub.load_state_dict_from_url(IMAGENET_URL, map_location="cpu", weights_only=True, progress=False)
        except Exception as e:  # offline, proxy, or a broken download
            raise SpoofscanError(
                f"could not fetch the ImageNet ResNet-18 weights ({e.__class__.__name__}: {e}). Offline? Copy "
                f"{IMAGENET_URL.rsplit('/', 1)[-1]} from a machine with access and pass its path instead of 'imagenet'"
            ) from None
    else:
        path = Path(source)
        if not path.is_file():
            raise SpoofscanError(f"init weights {str(source)!r}: no such file (give 'imagenet', 'random' or a .pth path)")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # not a torch file, or one that needs unpickling code (refused)
            raise SpoofscanError(f"init weights {str(source)!r}: cannot read as a torch state dict ({first_line(e)})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SpoofscanError(f"init weights {str(source)!r}: not a state dict of tensors (a torchvision resnet18 .pth)")
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    if "conv1.weight" in state and state["conv1.weight"].shape[1] != model.cfg.in_chans:
        state["conv1.weight"] = state["conv1.weight"].sum(dim=1, keepdim=True).repeat(1, model.cfg.in_chans, 1, 1)
    own = model.state_dict()
    wrong = [f"{k} {tuple(v.shape)} (expected {tuple(own[k].shape)})"
             for k, v in state.items() if k in own and v.shape != own[k].shape]
    if wrong:
        raise SpoofscanError(f"{source}: not a torchvision resnet18 state dict: wrong shape for {', '.join(wrong[:3])}")
    missing, unexpected = model.load_state_dict(state, strict=False)
    bad_missing = [k for k in missing if not k.startswith(OWN_PARTS)]
    if bad_missing or unexpected:
        raise SpoofscanError(f"{source}: not a torchvision resnet18 state dict (missing {bad_missing[:5]}, unexpected {unexpected[:5]})")

