"""noise(amount[, seed]): add the same random offset to the three colour values of each
pixel (thumbor's _noise.c draws it uniformly from [-amount/2, amount/2)).

libvips draws Gaussian noise; its standard deviation is set to that of thumbor's uniform
draw (amount / sqrt(12)), so the grain has the same strength. Seed 0 means a new draw.
"""

from __future__ import annotations

import math
import random

import pyvips

from confab.media.imaging.filters._pixels import Image, join, split


def apply(image: Image, amount: int, seed: int) -> Image:
    """Grain of the given strength."""
    colour, alpha = split(image)
    noise = pyvips.Image.gaussnoise(
        colour.width,
        colour.height,
        sigma=amount / math.sqrt(12),
        mean=-0.5,  # thumbor's draw is centred half a level below zero
        seed=seed or random.randrange(1, 2**31),
    )
    return join(colour + noise, alpha)
