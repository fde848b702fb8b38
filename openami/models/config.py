"""The world model's configuration: which encoder and predictor, and their sizes."""

from __future__ import annotations

from dataclasses import dataclass

from openami.config import Config, check


@dataclass(frozen=True)
class ModelConfig(Config):
    """Shapes and sizes of a world model; a checkpoint rebuilds its model from this."""

    image_size: int = 64
    """Height and width of the (square) input images, in pixels."""
    channels: int = 3
    """Image channels (3 for RGB)."""
    action_dim: int = 10
    """Action size seen by the predictor: the world's action size times the frameskip."""
    latent_dim: int = 64
    """Size D of an embedding z."""
    history: int = 1
    """How many past embeddings the predictor sees (T)."""
    encoder: str = "cnn"
    """Registered encoder name: 'cnn' (default) or 'vit'."""
    cnn_channels: tuple[int, ...] = (32, 64, 64)
    """Output channels of the CNN's layers: the patchify stem, then stride-2 convolutions."""
    cnn_stem: int = 4
    """Kernel and stride of the CNN's first convolution (a patchify stem; 2 = plain stride-2)."""
    cnn_norm: str = "layer"
    """Normalisation after each CNN layer: 'layer' (one group: the whole feature map of an image) or
    'instance' (each channel's map on its own, which keeps a small object's channels from being
    scaled down by the rest; with labels it reads PushT's block angle at R² 0.95 where 'layer' reads 0.12)."""
    cnn_pooled_dims: int = 0
    """How many of the code's dimensions (its last ones) come from the CNN's position-free head (0: none): a
    3x3 convolution over the stem's map, unpadded, averaged over positions, so that they say what the frame
    shows rather than where. `train.episode_contrast_weight` is what fills them (BENCHMARKS.md)."""
    vit_patch: int = 8
    """ViT patch size in pixels."""
    vit_width: int = 128
    """ViT token width."""
    vit_depth: int = 4
    """ViT blocks."""
    vit_heads: int = 4
    """ViT attention heads."""
    predictor: str = "transformer"
    """Registered predictor name: 'transformer' (AdaLN action conditioning) or 'mlp'."""
    predictor_width: int = 64
    """Width of the predictor's hidden layers or tokens."""
    predictor_depth: int = 2
    """Predictor blocks (transformer) or hidden layers (mlp)."""
    predictor_heads: int = 4
    """Predictor attention heads (transformer only)."""

    def __post_init__(self) -> None:
        for name in ("image_size", "channels", "action_dim", "latent_dim", "history",
                     "vit_patch", "vit_width", "vit_depth", "vit_heads",
                     "predictor_width", "predictor_depth", "predictor_heads"):
            check(getattr(self, name) > 0, f"model.{name} must be positive, got {getattr(self, name)}")
        check(len(self.cnn_channels) > 0 and all(c > 0 for c in self.cnn_channels),
              f"model.cnn_channels must be positive integers, got {self.cnn_channels}")
        reduction = self.cnn_stem * 2 ** (len(self.cnn_channels) - 1)
        check(self.image_size % reduction == 0 or self.encoder != "cnn",
              f"model.image_size {self.image_size} must be divisible by cnn_stem * 2**(len(cnn_channels)-1)"
              f" = {reduction} for the cnn encoder")
        check(self.cnn_norm in ("layer", "instance"),
              f"model.cnn_norm must be 'layer' or 'instance', got {self.cnn_norm!r}")
        check(0 <= self.cnn_pooled_dims < self.latent_dim,
              f"model.cnn_pooled_dims must be in [0, latent_dim={self.latent_dim}), got {self.cnn_pooled_dims}")
        check(self.cnn_stem >= 2, f"model.cnn_stem must be at least 2, got {self.cnn_stem}")
        check(self.image_size % self.vit_patch == 0 or self.encoder != "vit",
              f"model.image_size {self.image_size} must be divisible by vit_patch {self.vit_patch}")
        check(self.vit_width % self.vit_heads == 0,
              f"model.vit_width {self.vit_width} must be divisible by vit_heads {self.vit_heads}")
        check(self.predictor_width % self.predictor_heads == 0,
              f"model.predictor_width {self.predictor_width} must be divisible by "
              f"predictor_heads {self.predictor_heads}")
