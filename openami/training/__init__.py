"""Training: the loop, checkpoints and run directories."""

from openami.training.checkpoint import CheckpointError, load_model
from openami.training.config import RunConfig, TrainConfig
from openami.training.trainer import TrainResult, fit, resume

__all__ = ["CheckpointError", "RunConfig", "TrainConfig", "TrainResult", "fit", "load_model", "resume"]
