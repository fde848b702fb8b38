"""Experience: sharded on-disk storage with a manifest, and the windowed training Dataset."""

from openami.data.dataset import WindowDataset, split_episodes
from openami.data.storage import DatasetError, Experience, open_dataset, read_manifest, verify_dataset
from openami.data.writer import DatasetWriter

__all__ = [
    "DatasetError",
    "DatasetWriter",
    "Experience",
    "WindowDataset",
    "open_dataset",
    "read_manifest",
    "split_episodes",
    "verify_dataset",
]
