"""ResNet for log-mel spectrograms, readable top to bottom.

One parametrised network: ResNet-18 by default, narrower or shallower variants through
:class:`ModelConfig`. Parameter names follow torchvision's ``resnet18`` so its ImageNet
state dict loads (:func:`load_pretrained`): the RGB stem is summed to one input channel
and the 1000-class ``fc`` is replaced by one output, the bona fide logit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..config import Config
from ..errors import SpoofscanError, choice_error

# torchvision's public ResNet-18 ImageNet weights (IMAGENET1K_V1)
IMAGENET_URL = "https://download.pytorch.org/models/resnet18-f37072fd.pth"


@dataclass(frozen=True)
class ModelConfig(Config):
    """Network shape. ``width`` is the channel count of the first stage (64 in ResNet-18);
    stages double it. ``layers`` is the number of basic blocks per stage."""

    layers: tuple = (2, 2, 2, 2)
    width: int = 64
    dropout: float = 0.0  # before the final linear layer
    in_chans: int = 1

    def __post_init__(self):
        # types and size limits too: a config read from a card must not raise TypeError or build a giant
        MAX_BLOCKS = 16  # basic blocks per stage (ResNet-18: 2)
        MAX_WIDTH = 256  # channels of the first stage (ResNet-18: 64; the last stage has 8x)
        MAX_IN_CHANS = 16

        def whole(value):
            return isinstance(value, int) and not isinstance(value, bool)

        if not isinstance(self.layers, (tuple, list)) or len(self.layers) != 4 \
                or not all(whole(n) and 1 <= n <= MAX_BLOCKS for n in self.layers):
            raise SpoofscanError(f"layers must be four block counts in 1..{MAX_BLOCKS}, got {self.layers!r}")
        for name, top in (("width", MAX_WIDTH), ("in_chans", MAX_IN_CHANS)):
            value = getattr(self, name)
            if not whole(value) or value < 1:
                raise SpoofscanError(f"{name} must be a positive channel count, got {value!r}")
            if value > top:
                raise SpoofscanError(f"{name} must be at most {top} channels, got {value}")
        if not isinstance(self.dropout, (int, float)) or isinstance(self.dropout, bool) or not 0.0 <= self.dropout < 1.0:
            raise SpoofscanError(f"dropout must be in [0, 1), got {self.dropout!r}")


MODEL_PRESETS = {
    "resnet18": ModelConfig(),
    "resnet10": ModelConfig(layers=(1, 1, 1, 1)),
    "small": ModelConfig(width=32),
    "tiny": ModelConfig(layers=(1, 1, 1, 1), width=8),  # for tests: trains in seconds on a CPU
}


def model_preset(name: str) -> ModelConfig:
    if name not in MODEL_PRESETS:
        raise choice_error("model", name, MODEL_PRESETS)
    return MODEL_PRESETS[name]


class BasicBlock(nn.Module):
    expansion = 1

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


class ResNet(nn.Module):
    """Input (batch, in_chans, n_mels, frames) log-mel; output (batch,) bona fide logit."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
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
        """(batch, in_chans, n_mels, frames) -> pooled embedding (batch, 8 * width)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward_head(self, emb: torch.Tensor) -> torch.Tensor:
        """(batch, 8 * width) -> (batch,) logit, higher = more bona fide."""
        return self.fc(self.dropout(emb)).squeeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


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
            raise SpoofscanError(f"init weights {str(source)!r}: cannot read as a torch state dict ({_short(e)})") from None
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
    bad_missing = [k for k in missing if not k.startswith("fc.")]
    if bad_missing or unexpected:
        raise SpoofscanError(f"{source}: not a torchvision resnet18 state dict (missing {bad_missing[:5]}, unexpected {unexpected[:5]})")


def _short(e: Exception) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:200]
