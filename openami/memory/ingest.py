"""Filling a memory from a dataset: frames encoded by a trained run, with thumbnails and true states.

A store remembers which model made its embeddings (the sha256 of its weights): embeddings
of two models live in different spaces, so a store refuses those of another model.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from openami.data.storage import Experience
from openami.evaluation.embed import encode_frames
from openami.memory.schema import MemoryStoreError, database_path
from openami.memory.store import MemoryStore
from openami.models import WorldModel
from openami.training.checkpoint import last_checkpoint

THUMBNAIL = 32
_COMMIT_FRAMES = 4096  # frames per transaction: whole episodes, so a crash never splits one


def model_fingerprint(run_dir: str | Path) -> dict[str, Any]:
    """Which weights make the embeddings: the run, its newest checkpoint and that file's sha256."""
    checkpoint = last_checkpoint(Path(run_dir))
    digest = hashlib.sha256((checkpoint / "model.safetensors").read_bytes()).hexdigest()
    return {"run": str(Path(run_dir).resolve()), "checkpoint": checkpoint.name, "model_sha256": digest}


def check_same_model(store: MemoryStore, fingerprint: dict[str, Any], run_dir: str | Path) -> None:
    made_by = store.info.get("model_sha256")
    if made_by != fingerprint["model_sha256"]:
        raise MemoryStoreError(
            f"{store.path} holds embeddings of another model (run {store.info.get('run')}, "
            f"checkpoint {store.info.get('checkpoint')}, sha256 {str(made_by)[:12]}...), not of {run_dir} "
            f"({fingerprint['checkpoint']}, sha256 {fingerprint['model_sha256'][:12]}...); embeddings of different "
            "models are not comparable: use another --memory folder, or the run (and checkpoint) that made it")


def open_for(memory: str | Path, run_dir: str | Path, model: WorldModel, state_dim: int,
             index: str | None = None) -> MemoryStore:
    """The store at `memory` for this run's embeddings, created (recording the run) if missing."""
    fingerprint = model_fingerprint(run_dir)
    if not database_path(memory).exists():
        return MemoryStore.create(memory, model.config.latent_dim, thumbnail_shape=(THUMBNAIL, THUMBNAIL, 3),
                                  state_dim=state_dim, index=index or "exact", info=fingerprint)
    store = MemoryStore.open(memory, "a")
    try:
        check_same_model(store, fingerprint, run_dir)
        if index is not None and index != store.index_kind:
            raise MemoryStoreError(f"{memory} uses index {store.index_kind!r}, chosen when it was created; "
                                   f"drop --index or use another --memory folder for {index!r}")
        if store.state_dim != state_dim:
            raise MemoryStoreError(f"{memory} keeps true states of size {store.state_dim}, but the dataset's are "
                                   f"{state_dim}: is it a dataset of another world?")
    except BaseException:
        store.close()
        raise
    return store


def thumbnails(pixels: np.ndarray, size: int = THUMBNAIL) -> np.ndarray:
    """(N, H, W, C) uint8 -> (N, size, size, C) uint8: block means when the size divides, else PIL's box filter."""
    n, h, w, c = pixels.shape
    if h % size == 0 and w % size == 0:
        blocks = pixels.reshape(n, size, h // size, size, w // size, c).mean(axis=(2, 4))
        return np.round(blocks).astype(np.uint8)
    return np.stack([np.asarray(Image.fromarray(p).resize((size, size), Image.BOX)) for p in pixels])


def remember_dataset(store: MemoryStore, model: WorldModel, experience: Experience, every: int = 1,
                     progress: bool = True) -> tuple[int, int]:
    """Add every `every`-th frame of each episode; commit after each batch of whole episodes.

    The dataset's episodes are numbered after the store's last episode, so two datasets never
    share an episode number. Returns (entries added, first episode number used).
    """
    if every < 1:
        raise MemoryStoreError(f"--every must be at least 1, got {every}")
    last = store.stats()["episode_range"][1]
    first_episode = 0 if last is None else last + 1
    picked = [np.arange(0, int(length), every) for length in experience.episode_length]
    total = sum(len(p) for p in picked)
    bar = tqdm(total=total, desc="memory add", unit="frame", disable=not progress)
    added, batch = 0, []
    for e, steps in enumerate(picked):
        batch.append((e, steps))
        if sum(len(s) for _, s in batch) >= _COMMIT_FRAMES or e == len(picked) - 1:
            rows = np.concatenate([experience.episode_offset[i] + s for i, s in batch])
            pixels = experience.pixels[rows]
            store.add(encode_frames(model, pixels), thumbnails(pixels),
                      episode=np.concatenate([np.full(len(s), first_episode + i) for i, s in batch]),
                      step=np.concatenate([s for _, s in batch]), state=experience.state[rows], commit=True)
            added += len(rows)
            bar.update(len(rows))
            batch = []
    bar.close()
    return added, first_episode
