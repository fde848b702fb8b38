"""Probes: how much of the true physical state a frozen embedding holds.

A linear probe and a small MLP read physical quantities out of frozen embeddings, trained
and tested on disjoint episodes, next to the same probes on a randomly initialised encoder of
the same shape. Static quantities (positions, angles) are read from one frame's embedding;
dynamic ones (velocities) from the embeddings of two consecutive frames, since one image
cannot show motion.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from openami.config import Config, check
from openami.data import Experience, split_episodes
from openami.evaluation.embed import encode_frames, previous_rows
from openami.models import WorldModel
from openami.registry import Registry

Quantities = dict[str, tuple[np.ndarray, bool]]
"""Quantity name -> (targets (N, k), dynamic: needs two frames to be seen)."""

QUANTITIES: Registry[Callable[[np.ndarray], Quantities]] = Registry("probe quantity set")
"""Gymnasium world id -> function of the stored states (N, S) giving the quantities to probe."""


@QUANTITIES.register("openami/TwoRoom-v0")
def tworoom_quantities(states: np.ndarray) -> Quantities:
    return {"agent.position": (states[:, :2], False)}


@QUANTITIES.register("openami/Physics-v0")
def _physics(states: np.ndarray) -> Quantities:
    from openami.worlds.physics import physics_quantities

    return physics_quantities(states)


def _angle(theta: np.ndarray) -> np.ndarray:
    return np.stack([np.cos(theta), np.sin(theta)], 1).astype(np.float32)


@QUANTITIES.register("openami/PushT-v0")
def _pusht(states: np.ndarray) -> Quantities:
    return {"pusher.position": (states[:, 0:2], False), "block.position": (states[:, 4:6], False),
            "block.angle": (_angle(states[:, 6]), False)}


@QUANTITIES.register("openami/Reacher-v0")
def _reacher(states: np.ndarray) -> Quantities:
    return {"shoulder.angle": (_angle(states[:, 0]), False), "elbow.angle": (_angle(states[:, 1]), False),
            "joint.velocity": (states[:, 2:4], True)}


def quantities_for(world_id: str, states: np.ndarray) -> Quantities:
    """The world's named quantities, or its whole state vector for worlds without a list."""
    if world_id in QUANTITIES:
        return QUANTITIES.get(world_id)(states)
    return {"state": (states, False)}


@dataclass(frozen=True)
class ProbeConfig(Config):
    """How probes are fitted and scored."""

    test_fraction: float = 0.2
    """Fraction of episodes held out to score the probes (never seen by them)."""
    max_train_frames: int = 20000
    """Frames sampled from the training episodes to fit the probes."""
    max_test_frames: int = 5000
    """Frames sampled from the test episodes to score them."""
    ridge_alpha: float = 1.0
    """L2 penalty of the linear probe, on standardised embeddings."""
    mlp_hidden: tuple[int, ...] = (256, 256)
    """Hidden layer widths of the MLP probe."""
    mlp_max_epochs: int = 200
    """Epoch limit of the MLP probe (it stops early on a held-out tenth)."""
    seed: int = 0
    """Seed of the split, the frame sampling, the MLP and the random encoder."""

    def __post_init__(self) -> None:
        check(0 < self.test_fraction < 1, f"probe.test_fraction must be in (0, 1), got {self.test_fraction}")
        check(self.max_train_frames >= 10 and self.max_test_frames >= 2,
              "probe.max_train_frames must be >= 10 and probe.max_test_frames >= 2")
        check(self.ridge_alpha >= 0, f"probe.ridge_alpha must be >= 0, got {self.ridge_alpha}")
        check(all(h > 0 for h in self.mlp_hidden), f"probe.mlp_hidden must be positive, got {self.mlp_hidden}")
        check(self.mlp_max_epochs > 0, f"probe.mlp_max_epochs must be positive, got {self.mlp_max_epochs}")


def fit_probes(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, config: ProbeConfig
               ) -> dict[str, np.ndarray]:
    """Fit the linear and the MLP probe on (x_train, y_train); their predictions on x_test."""
    linear = make_pipeline(StandardScaler(), Ridge(alpha=config.ridge_alpha))
    linear.fit(x_train, y_train)
    # Targets are standardised too, so every quantity weighs alike in the MLP's loss.
    y_scaler = StandardScaler().fit(y_train)
    mlp = make_pipeline(StandardScaler(), MLPRegressor(
        hidden_layer_sizes=tuple(config.mlp_hidden), max_iter=config.mlp_max_epochs, early_stopping=True,
        n_iter_no_change=10, batch_size=min(256, len(x_train)), random_state=config.seed))
    with warnings.catch_warnings():  # hitting the epoch limit still gives a valid (if weaker) probe
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(x_train, y_scaler.transform(y_train))
    mlp_pred = y_scaler.inverse_transform(mlp.predict(x_test).reshape(len(x_test), -1))
    return {"linear": linear.predict(x_test).reshape(len(x_test), -1), "mlp": mlp_pred}


def score(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """R² (averaged over the quantity's components) and mean squared error."""
    return {"r2": float(r2_score(y_true, y_pred)), "mse": float(mean_squared_error(y_true, y_pred))}


def random_encoder_like(model: WorldModel, seed: int) -> WorldModel:
    """A freshly initialised model of the same configuration, on the same device."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh = WorldModel(model.config)
    return fresh.to(next(model.parameters()).device).eval()


def probe(model: WorldModel, experience: Experience, world_id: str, config: ProbeConfig | None = None,
          random_baseline: bool = True) -> dict[str, Any]:
    """Probe every quantity of the world from `model`'s frozen embeddings (and a random encoder's)."""
    config = config or ProbeConfig()
    if experience.num_episodes < 2:
        raise ValueError(f"probes need at least 2 episodes (disjoint train and test), "
                         f"the dataset has {experience.num_episodes}")
    quantities = quantities_for(world_id, experience.state)
    rng = np.random.default_rng(config.seed)
    train_eps, test_eps = split_episodes(experience.num_episodes, config.test_fraction, config.seed)
    splits = {}
    for name, episodes, limit in (("train", train_eps, config.max_train_frames),
                                  ("test", test_eps, config.max_test_frames)):
        rows, earlier = previous_rows(experience.episode_offset, experience.episode_length, np.asarray(episodes))
        if len(rows) == 0:
            raise ValueError("the dataset's episodes are single frames: probes need episodes of 2+ frames")
        if len(rows) > limit:
            keep = np.sort(rng.choice(len(rows), limit, replace=False))
            rows, earlier = rows[keep], earlier[keep]
        splits[name] = (rows, earlier)

    encoders = {"trained": model}
    if random_baseline:
        encoders["random"] = random_encoder_like(model, config.seed)
    results: dict[str, Any] = {name: {"dynamic": dynamic} for name, (_, dynamic) in quantities.items()}
    # Each encoder embeds every frame a probe uses once; index[split] points into those embeddings.
    needed = np.unique(np.concatenate([np.concatenate(s) for s in splits.values()]))
    index = {name: (np.searchsorted(needed, rows), np.searchsorted(needed, earlier))
             for name, (rows, earlier) in splits.items()}
    for encoder_name, encoder in encoders.items():
        z = encode_frames(encoder, experience.pixels[needed])
        features = {name: {False: z[now], True: np.concatenate([z[before], z[now]], axis=1)}
                    for name, (now, before) in index.items()}
        for name, (targets, dynamic) in quantities.items():
            # One probe per quantity, so an unreadable one (say, a tiny body's angle) takes no
            # capacity from the others.
            targets = np.asarray(targets, np.float64)
            train_rows, test_rows = splits["train"][0], splits["test"][0]
            predictions = fit_probes(features["train"][dynamic], targets[train_rows],
                                     features["test"][dynamic], config)
            results[name][encoder_name] = {kind: score(targets[test_rows], pred) for kind, pred in predictions.items()}
    return {"world": world_id, "quantities": results, "train_episodes": len(train_eps),
            "test_episodes": len(test_eps), "train_frames": len(splits["train"][0]),
            "test_frames": len(splits["test"][0]), "config": config.to_dict()}


def format_probe_table(result: dict[str, Any]) -> str:
    """A plain-text table: one row per quantity, R² of each probe on each encoder."""
    lines = [f"probes on {result['world']}: {result['train_frames']} frames of {result['train_episodes']} episodes "
             f"to fit, {result['test_frames']} frames of {result['test_episodes']} other episodes to test",
             f"  {'quantity':<28} {'linear R²':>10} {'MLP R²':>8} {'random linear':>14} {'random MLP':>11}"]
    for name, q in result["quantities"].items():
        trained, rand = q.get("trained", {}), q.get("random", {})
        cells = [trained.get("linear"), trained.get("mlp"), rand.get("linear"), rand.get("mlp")]
        text = [f"{c['r2']:.3f}" if c else "-" for c in cells]
        label = name + (" (2 frames)" if q["dynamic"] else "")
        lines.append(f"  {label:<28} {text[0]:>10} {text[1]:>8} {text[2]:>14} {text[3]:>11}")
    return "\n".join(lines)
