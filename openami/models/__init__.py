"""World models: encoders, predictors and the WorldModel that joins them."""

from openami.models.config import ModelConfig
from openami.models.encoders import ENCODERS
from openami.models.predictors import PREDICTORS
from openami.models.world_model import WorldModel

__all__ = ["ENCODERS", "PREDICTORS", "ModelConfig", "WorldModel"]
