"""The errors a user can cause, which the command line reports in one line."""

from openami.config import ConfigError
from openami.data.storage import DatasetError
from openami.memory.schema import MemoryStoreError
from openami.training.checkpoint import CheckpointError

# KeyError carries the registries' "unknown X, did you mean Y" messages.
USER_ERRORS = (ConfigError, DatasetError, CheckpointError, MemoryStoreError, FileExistsError, FileNotFoundError,
               KeyError, ValueError)
