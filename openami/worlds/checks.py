"""What the state-placed worlds (PushT, Reacher) check and compute alike: arguments, reset states, angles."""

from __future__ import annotations

from typing import Any

import numpy as np


def check_render_args(render_mode: str | None, size: Any, min_size: int = 16) -> None:
    if render_mode is not None and render_mode != "rgb_array":
        raise ValueError(f"render_mode {render_mode!r} is not supported; use 'rgb_array' or None")
    if not isinstance(size, (int, np.integer)) or size < min_size:
        raise ValueError(f"size must be an integer >= {min_size} (pixels per side), got {size!r}")


def rgb(value: Any, name: str) -> tuple[int, int, int]:
    """A colour argument as three ints in 0..255, or a ValueError that names the argument."""
    values = tuple(int(v) for v in np.atleast_1d(value))
    if len(values) != 3 or not all(0 <= v <= 255 for v in values):
        raise ValueError(f"{name} must be three integers in 0..255 (RGB), got {value!r}")
    return values  # type: ignore[return-value]


def action_array(action: Any, size: int = 2) -> np.ndarray:
    a = np.asarray(action, dtype=np.float64)
    if a.shape != (size,) or not np.all(np.isfinite(a)):
        raise ValueError(f"action must be {size} finite numbers, got {action!r}")
    return a


def state_option(options: dict[str, Any] | None, fields: tuple[str, ...]) -> np.ndarray | None:
    """``options["state"]`` checked against the state's fields (a float64 copy), or None when not given."""
    options = options or {}
    if set(options) - {"state"}:
        raise ValueError(f"unknown reset options {sorted(set(options) - {'state'})}; the option is 'state'")
    if "state" not in options:
        return None
    state = np.array(options["state"], dtype=np.float64)
    if state.shape != (len(fields),) or not np.all(np.isfinite(state)):
        raise ValueError(f"reset state must be {len(fields)} finite numbers ({', '.join(fields)}), "
                         f"got shape {state.shape}")
    return state


def wrap_angle(angle: Any) -> Any:
    """Angle(s) wrapped to (-π, π]."""
    return -((-np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi)
