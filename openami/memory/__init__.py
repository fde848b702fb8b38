"""The agent's persistent memory: latent states it has seen, with thumbnails and metadata, on disk."""

from openami.memory.hnsw import HnswConfig
from openami.memory.rows import Entries
from openami.memory.schema import MemoryStoreError
from openami.memory.store import MemoryStore

__all__ = ["Entries", "HnswConfig", "MemoryStore", "MemoryStoreError"]
