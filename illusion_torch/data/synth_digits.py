"""``synth-digits`` (SYNTHETIC): house-number-like 32×32 colour crops rendered from system fonts.

Not SVHN. An offline stand-in with SVHN's layout: the label is the digit at the centre of the crop,
neighbouring digits are often partly visible, and fonts, sizes, colours, backgrounds, rotation, blur and
noise vary. Item ``i`` of a split is drawn from its own seeded generator, so any prefix of a split is
reproducible on its own (tests render only what they use) and the whole split is cached as ``.npz``.

Usage::

    from illusion_torch.data.synth_digits import render_split
    images, labels = render_split("test", 500)        # (500, 32, 32, 3) uint8, (500,) uint8

Fonts: the TrueType/OpenType files of Debian's fonts-dejavu-core, fonts-liberation, fonts-freefont-ttf and
fonts-urw-base35 (installed by ``make data``); the list used is recorded in the cache and the checkpoint.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from .cache import SourceMissing

__all__ = ["render_split", "render_item", "font_files", "SPLIT_SIZES", "SEED"]

SEED = 2021
SPLIT_SIZES = {"train": 40000, "test": 8000}
_SPLIT_IDS = {"train": 1, "test": 2}
_FONT_GLOBS = ("truetype/dejavu/DejaVu*.ttf", "truetype/liberation/Liberation*.ttf",
               "truetype/freefont/Free*.ttf", "opentype/urw-base35/*.otf")
_NOT_DIGIT_FONTS = ("StandardSymbols", "D050000L", "Z003")   # symbol, dingbat and script faces
FONT_ROOT = Path("/usr/share/fonts")
_CANVAS = 64


@lru_cache(maxsize=1)
def font_files() -> tuple[str, ...]:
    files = sorted({str(p) for g in _FONT_GLOBS for p in FONT_ROOT.glob(g)
                    if not any(bad in p.name for bad in _NOT_DIGIT_FONTS)})
    if len(files) < 8:
        raise SourceMissing("too few fonts to render synth-digits: run `apt-get install fonts-dejavu-core "
                            "fonts-liberation fonts-freefont-ttf fonts-urw-base35` (or `make data`)")
    return tuple(files)


def fonts_fingerprint() -> str:
    return hashlib.sha1("\n".join(Path(f).name for f in font_files()).encode()).hexdigest()[:12]


@lru_cache(maxsize=4096)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def _colour(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, size=3)


def _luma(c: np.ndarray) -> float:
    return float(0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2])


def _background(rng: np.random.Generator, base: np.ndarray) -> Image.Image:
    """A flat colour with a linear gradient and coarse texture, like a wall or a plate."""
    yy, xx = np.mgrid[0:_CANVAS, 0:_CANVAS] / _CANVAS
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx + np.sin(angle) * yy)[..., None] * rng.uniform(-60, 60)
    coarse = rng.normal(0, rng.uniform(0, 18), size=(8, 8, 3))
    texture = np.kron(coarse, np.ones((8, 8, 1)))
    img = np.clip(base[None, None, :] + ramp + texture, 0, 255).astype(np.uint8)
    return Image.fromarray(img, "RGB")


def render_item(split: str, index: int) -> tuple[np.ndarray, int]:
    """Render item ``index`` of ``split``: a (32, 32, 3) uint8 image and its centre digit."""
    rng = np.random.default_rng([SEED, _SPLIT_IDS[split], index])
    fonts = font_files()
    label = int(rng.integers(10))
    bg = _colour(rng)
    fg = _colour(rng)
    while abs(_luma(fg) - _luma(bg)) < 60:
        fg = _colour(rng)
    img = _background(rng, bg.astype(np.float64))
    draw = ImageDraw.Draw(img)
    font = _font(fonts[int(rng.integers(len(fonts)))], int(rng.integers(30, 46)))
    left = str(rng.integers(10)) if rng.random() < 0.6 else ""
    right = str(rng.integers(10)) if rng.random() < 0.6 else ""
    text = left + str(label) + right
    spacing = int(rng.integers(-2, 6))
    # place the centre digit's box at the canvas centre (with jitter); neighbours follow from the text run
    x0 = draw.textbbox((0, 0), left, font=font)[2] + spacing if left else 0
    box = draw.textbbox((x0, 0), str(label), font=font)
    cx = _CANVAS / 2 + rng.uniform(-3, 3) - (box[0] + box[2]) / 2
    cy = _CANVAS / 2 + rng.uniform(-3, 3) - (box[1] + box[3]) / 2
    x = cx
    for j, ch in enumerate(text):
        draw.text((x, cy), ch, font=font, fill=tuple(int(c) for c in fg))
        x = draw.textbbox((x, cy), ch, font=font)[2] + spacing
        if j == 0 and left:
            x = cx + x0
    if rng.random() < 0.7:
        img = img.rotate(rng.uniform(-12, 12), resample=Image.Resampling.BILINEAR, fillcolor=tuple(int(c) for c in bg))
    scale = rng.uniform(0.8, 1.0)
    side = int(_CANVAS * scale / 2) * 2
    off = (_CANVAS - side) // 2
    img = img.crop((off, off, off + side, off + side)).resize((32, 32), Image.Resampling.BILINEAR)
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.2)))
    arr = np.asarray(img, dtype=np.float64) + rng.normal(0, rng.uniform(0, 12), size=(32, 32, 3))
    return np.clip(arr, 0, 255).astype(np.uint8), label


def render_split(split: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` items of ``split``."""
    images = np.empty((count, 32, 32, 3), dtype=np.uint8)
    labels = np.empty(count, dtype=np.uint8)
    for i in range(count):
        images[i], labels[i] = render_item(split, i)
    return images, labels
