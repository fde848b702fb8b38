"""Image encoders: pixels (N, C, H, W) -> embeddings (N, D)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from openami.distributed import gather_rows, local_rows
from openami.models.config import ModelConfig
from openami.registry import Registry

ENCODERS: Registry = Registry("encoder")

_STEM_LAYERS = 3  # the CNN's first convolution, its norm and its activation
_POOLED_CHANNELS = 32  # channels of the pooled head's convolution


def _projector(in_dim: int, latent_dim: int) -> nn.Module:
    # Frames of one world differ in a few pixels, so raw features of different frames
    # start nearly identical; SIGReg's pull to spread them is second order in that
    # spread and vanishes. Batch normalisation in the head standardises the spread
    # across the batch so SIGReg has a gradient from the first step (LeWorldModel's
    # projector also uses BatchNorm). The output layer stays linear: SIGReg sets its scale.
    return nn.Sequential(nn.Linear(in_dim, 256), GlobalBatchNorm1d(256), nn.GELU(), nn.Linear(256, latent_dim))


class GlobalBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d whose training statistics are those of the global batch across DDP ranks.

    With one process it is BatchNorm1d. Under torchrun, a training forward with gradients
    gathers every rank's rows, normalises the whole batch and keeps this rank's rows, so N
    ranks see the statistics (and gradients) one process would. torch's SyncBatchNorm does
    the same job but only on GPUs; this one also runs on gloo. Forwards without gradients
    (BatchNorm calibration, evaluation) stay local.
    """

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and torch.is_grad_enabled()):
            return super().forward(x)
        return local_rows(super().forward(gather_rows(x)), x.shape[0])


@ENCODERS.register("cnn")
class CNNEncoder(nn.Module):
    """A patchify stem, stride-2 convolutions down to a small grid, then an MLP projector.

    The stem (kernel = stride) sees every pixel once at a quarter of the cost of a
    stack of stride-2 layers at full resolution, which dominates CPU training time.

    With `cnn_pooled_dims`, the code's last dimensions come from a second head: an unpadded 3x3
    convolution over the stem's map, averaged over positions. No unit of it sees the frame's border,
    so the average holds what the frame shows wherever it is (shapes, colours), not where.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = config.channels
        for i, out_ch in enumerate(config.cnn_channels):
            conv = (nn.Conv2d(in_ch, out_ch, config.cnn_stem, stride=config.cnn_stem) if i == 0
                    else nn.Conv2d(in_ch, out_ch, 4, stride=2, padding=1))
            groups = 1 if config.cnn_norm == "layer" else out_ch
            layers += [conv, nn.GroupNorm(groups, out_ch), nn.GELU()]
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        grid = config.image_size // (config.cnn_stem * 2 ** (len(config.cnn_channels) - 1))
        self.project = _projector(in_ch * grid * grid, config.latent_dim - config.cnn_pooled_dims)
        self.pooled = self.project_pooled = None
        if config.cnn_pooled_dims:
            self.pooled = nn.Sequential(nn.Conv2d(config.cnn_channels[0], _POOLED_CHANNELS, 3),
                                        nn.GroupNorm(1, _POOLED_CHANNELS), nn.GELU())
            self.project_pooled = _projector(_POOLED_CHANNELS, config.cnn_pooled_dims)

    def forward(self, x: Tensor) -> Tensor:  # (N, C, H, W) -> (N, D)
        stem = self.features[:_STEM_LAYERS](x)
        z = self.project(self.features[_STEM_LAYERS:](stem).flatten(1))
        if self.pooled is None:
            return z
        return torch.cat([z, self._pooled_code(stem)], dim=1)

    def pooled_code(self, x: Tensor) -> Tensor:  # (N, C, H, W) -> (N, cnn_pooled_dims)
        """The code's position-free dimensions alone, without running the rest of the trunk."""
        if self.pooled is None:
            raise ValueError("this CNN has no position-free head: set model.cnn_pooled_dims > 0")
        return self._pooled_code(self.features[:_STEM_LAYERS](x))

    def _pooled_code(self, stem: Tensor) -> Tensor:
        return self.project_pooled(self.pooled(stem).mean(dim=(2, 3)))


@ENCODERS.register("vit")
class ViTEncoder(nn.Module):
    """A small Vision Transformer: patch tokens, pre-norm blocks, mean-pooled."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        width = config.vit_width
        self.patchify = nn.Conv2d(config.channels, width, config.vit_patch, stride=config.vit_patch)
        num_patches = (config.image_size // config.vit_patch) ** 2
        self.position = nn.Parameter(torch.randn(1, num_patches, width) * 0.02)
        block = nn.TransformerEncoderLayer(width, config.vit_heads, 4 * width, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(block, config.vit_depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.project = _projector(width, config.latent_dim)

    def forward(self, x: Tensor) -> Tensor:  # (N, C, H, W) -> (N, D)
        tokens = self.patchify(x).flatten(2).transpose(1, 2) + self.position  # (N, P, W)
        tokens = self.norm(self.blocks(tokens))
        return self.project(tokens.mean(dim=1))


def build_encoder(config: ModelConfig) -> nn.Module:
    return ENCODERS.get(config.encoder)(config)
