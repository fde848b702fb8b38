"""An anti-aliased disk drawn onto a fixed background: the agent of the point worlds."""

from __future__ import annotations

import math

import numpy as np


class DiskSprite:
    """Draws a disk of ``radius_px`` pixels, blending its coverage of each pixel into the background."""

    def __init__(self, radius_px: float, colour: np.ndarray) -> None:
        self.radius_px = float(radius_px)
        self.colour = np.asarray(colour, dtype=np.float32)
        # Offsets of the pixel patch that can hold the disk, relative to its corner pixel.
        self._span = int(math.ceil(2 * self.radius_px + 2)) + 1
        self._offsets = np.arange(self._span, dtype=np.float32)

    def draw(self, background: np.ndarray, cx: float, cy: float) -> np.ndarray:
        """A copy of ``background`` (uint8[H, W, 3]) with the disk centred at pixel coordinates (cx, cy).

        Pixel (r, c) covers [c, c+1] x [r, r+1], so (cx, cy) = (0, 0) is the image's top-left corner.
        """
        frame = background.copy()
        size_y, size_x = frame.shape[:2]
        col0 = int(math.floor(cx - self.radius_px - 1))
        row0 = int(math.floor(cy - self.radius_px - 1))
        cols = self._offsets + (col0 + 0.5 - cx)
        rows = self._offsets + (row0 + 0.5 - cy)
        dist = np.sqrt(rows[:, None] ** 2 + cols[None, :] ** 2)
        cover = np.clip(self.radius_px + 0.5 - dist, 0.0, 1.0)
        # Crop the patch to the image (the disk never leaves it, the patch may).
        r_lo, c_lo = max(row0, 0), max(col0, 0)
        r_hi, c_hi = min(row0 + self._span, size_y), min(col0 + self._span, size_x)
        if r_lo >= r_hi or c_lo >= c_hi:
            return frame
        cover = cover[r_lo - row0 : r_hi - row0, c_lo - col0 : c_hi - col0, None]
        patch = frame[r_lo:r_hi, c_lo:c_hi]
        frame[r_lo:r_hi, c_lo:c_hi] = patch * (1.0 - cover) + self.colour * cover + 0.5  # round on the cast
        return frame
