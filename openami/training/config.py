"""Training settings and the resolved run config saved next to every checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, field

from openami.config import Config, check
from openami.models.config import ModelConfig


@dataclass(frozen=True)
class TrainConfig(Config):
    """How a world model is trained."""

    steps: int = 1500
    """Optimizer steps in total (a resumed run continues up to this)."""
    batch_size: int = 128
    """Windows per step."""
    lr: float = 2e-3
    """Peak learning rate of AdamW (linear warm-up, cosine decay to 10%)."""
    weight_decay: float = 1e-3
    """AdamW weight decay."""
    warmup_steps: int = 50
    """Steps of linear learning-rate warm-up."""
    future: int = 3
    """Predicted steps per window: the predictor rolls out this many steps open-loop."""
    frameskip: int = 5
    """World steps per model step; the model's action is the concatenation of these."""
    target: str = "online"
    """Prediction targets: 'online' (the encoder's embeddings of the future frames, gradients flow into
    them, as LeWorldModel trains) or 'stopgrad' (the same embeddings, detached: the encoder is never
    pulled to make the future easy to predict; SIGReg still prevents collapse)."""
    regularizer: str = "sigreg"
    """Anti-collapse regulariser on the embeddings: 'sigreg' or 'vicreg'."""
    reg_weight: float = 0.005
    """Lambda: weight of the regulariser against the prediction loss (see the README on its choice)."""
    reconstruction_weight: float = 0.0
    """Weight of an auxiliary pixel loss (0: none, the pure JEPA objective): a small decoder redraws each
    window's first frame from its embedding, with gradients into the encoder, pixels that differ from
    the background colour weighted 21 times. It keeps detail the prediction loss lets the encoder drop
    (BENCHMARKS.md: on the physics world it raises the surprise at velocity jumps). The decoder is used
    for training only: checkpoints hold the world model alone."""
    episode_contrast_weight: float = 0.0
    """Weight of a time-contrastive loss on the code's pooled dimensions (`model.cnn_pooled_dims`; 0: none):
    each window's first frame and another frame of its episode, drawn anew every step, must pick each
    other out of the batch (InfoNCE, temperature 0.1). Those dimensions cannot say where things are, so
    what they can tell episodes apart by is what an episode keeps and a frame shows: in the physics world,
    each body's shape, which prediction alone leaves out of the code (BENCHMARKS.md). Its negatives are
    this process's rows of the batch."""
    inverse_dynamics_weight: float = 0.0
    """Weight of an auxiliary inverse-dynamics loss (0: none): a small MLP, used for training only, names
    each action from the embeddings of the frames before, at and after it, with gradients into the
    encoder. Prediction alone lets the encoder hold coarsely what is hard to predict, such as the pushed
    body; naming the push asks for that body's motion precisely (BENCHMARKS.md)."""
    hard_fraction: float = 0.0
    """Share of each batch drawn in proportion to each window's last prediction error (0: every window
    uniformly). Rare events the model predicts badly (in the physics world, bounces off the ledge) are
    then seen more often; a window's error is known once it has been drawn, so the rest of the batch
    stays uniform and reaches every window. The errors are the model's own: no labels are used."""
    val_fraction: float = 0.05
    """Fraction of episodes held out to report validation prediction error."""
    grad_clip: float = 1.0
    """Gradient norm clipping (0 disables)."""
    log_every: int = 25
    """Steps between metric records."""
    checkpoint_every: int = 250
    """Steps between checkpoints (one is always written at the end)."""
    keep_checkpoints: int = 2
    """How many recent checkpoints to keep on disk."""
    seed: int = 0
    """Seed of initialisation and batch sampling."""
    device: str = "cpu"
    """Torch device, e.g. 'cpu', 'cuda', 'cuda:1' (under torchrun, each rank takes cuda:LOCAL_RANK)."""
    precision: str = "fp32"
    """'fp32'; 'bf16' for bfloat16 autocast of the forward pass (weights and optimizer stay fp32); or
    'auto': bf16 where the device has bf16 units (a CPU with AVX512-BF16 or AMX, most CUDA GPUs),
    fp32 elsewhere. A run records the precision it resolved to."""

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "future", "frameskip", "log_every", "checkpoint_every",
                     "keep_checkpoints"):
            check(getattr(self, name) > 0, f"train.{name} must be positive, got {getattr(self, name)}")
        check(self.lr > 0, f"train.lr must be positive, got {self.lr}")
        check(self.reg_weight >= 0, f"train.reg_weight must be >= 0, got {self.reg_weight}")
        check(0 <= self.val_fraction < 1, f"train.val_fraction must be in [0, 1), got {self.val_fraction}")
        check(self.target in ("online", "stopgrad"),
              f"train.target must be 'online' or 'stopgrad', got {self.target!r}")
        check(self.precision in ("fp32", "bf16", "auto"),
              f"train.precision must be 'fp32', 'bf16' or 'auto', got {self.precision!r}")
        check(self.reconstruction_weight >= 0,
              f"train.reconstruction_weight must be >= 0, got {self.reconstruction_weight}")
        check(self.episode_contrast_weight >= 0,
              f"train.episode_contrast_weight must be >= 0, got {self.episode_contrast_weight}")
        check(self.inverse_dynamics_weight >= 0,
              f"train.inverse_dynamics_weight must be >= 0, got {self.inverse_dynamics_weight}")
        check(0 <= self.hard_fraction < 1, f"train.hard_fraction must be in [0, 1), got {self.hard_fraction}")
        check(self.warmup_steps >= 0, f"train.warmup_steps must be >= 0, got {self.warmup_steps}")


@dataclass(frozen=True)
class RunConfig(Config):
    """Everything needed to rebuild a trained model and know what it was trained on."""

    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: str = ""
    """Path of the dataset directory the model was trained on."""
    world: str = "openami/TwoRoom-v0"
    """Gymnasium id of the world the data came from."""
    world_kwargs: dict = field(default_factory=dict)
    """Keyword arguments the world was made with."""
    world_action_dim: int = 2
    """The world's own action size (the model's is this times the frameskip)."""

    def __post_init__(self) -> None:
        pooled = self.model.encoder == "cnn" and self.model.cnn_pooled_dims > 0
        check(self.train.episode_contrast_weight == 0 or pooled,
              "train.episode_contrast_weight > 0 trains the code's pooled dimensions, so it needs "
              "model.encoder: cnn with model.cnn_pooled_dims > 0 (e.g. 32)")
        check(self.train.inverse_dynamics_weight == 0 or self.model.history + self.train.future >= 3,
              "train.inverse_dynamics_weight > 0 names each action from the frames before and after it, so a "
              "window needs at least 3 frames: raise model.history + train.future to 3 or more")
