"""Real images for the ImageNet classifiers: the 8,121 public-domain drawings of Debian's ``openclipart-png``.

Usage::

    from illusion_torch.data.clipart import load_clipart
    x, y, meta = load_clipart("test", limit=1000)   # x (N, 224, 224, 3) uint8, y all −1 (no ImageNet labels)

There is no ImageNet validation set offline, so these real (not synthetic) drawings are what the pretrained
classifiers are measured on, as **agreement with the float model** (top-1/top-5), never as accuracy against
labels. Each PNG is composited on white, its shorter side resized to 256 (bilinear) and the centre 224 × 224
cut, as torchvision's ImageNet evaluation does; drawings larger than ``MAX_PIXELS`` (a few posters of
over 100 megapixels, seconds each to decode) are skipped. Split by position in the package's sorted file
list: every fourth drawing is ``test``, the rest ``train`` (calibration draws from it). The package is
fetched by ``make data`` with ``apt-get download`` (no root, nothing installed) into the cache; converted
images are cached per split and size as ``.npz``.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

from .cache import SourceMissing, cache_dir, cached_npz
from .debian import deb_files

__all__ = ["load_clipart", "clipart_deb", "preprocess", "PACKAGE"]

PACKAGE = "openclipart-png"
SIZE, RESIZE = 224, 256
MAX_PIXELS = 16_000_000
CACHE_VERSION = 2


class _TooLarge(ValueError):
    pass


def clipart_deb() -> Path:
    """The fetched ``openclipart-png`` package in the cache (``make data`` puts it there)."""
    folder = cache_dir() / "images"
    found = sorted(folder.glob(f"{PACKAGE}_*.deb"))
    if not found:
        raise SourceMissing(f"no {PACKAGE} package in {folder}: run `make data` (it runs `apt-get download "
                            f"{PACKAGE}` there; nothing is installed)")
    return found[-1]


def preprocess(blob: bytes, size: int = SIZE, resize: int = RESIZE) -> np.ndarray:
    """An image file's bytes → (size, size, 3) uint8: on white, shorter side ``resize``, centre crop."""
    from PIL import Image

    with warnings.catch_warnings():     # PIL warns of huge images at open; they are skipped below
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(blob))
        except Image.DecompressionBombError as e:
            raise _TooLarge(str(e)) from None
    with im:
        if im.size[0] * im.size[1] > MAX_PIXELS:
            raise _TooLarge(f"{im.size[0]}×{im.size[1]} pixels")
        rgba = im.convert("RGBA")
    canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(canvas, rgba).convert("RGB")
    w, h = rgb.size
    scale = resize / min(w, h)
    rgb = rgb.resize((max(resize, round(w * scale)), max(resize, round(h * scale))), Image.Resampling.BILINEAR)
    w, h = rgb.size
    left, top = (w - size) // 2, (h - size) // 2
    return np.asarray(rgb.crop((left, top, left + size, top + size)), dtype=np.uint8)


def load_clipart(split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """The ``split``'s images (the first ``limit``; a cache per limit so a small run converts only what it
    reads), labels −1."""
    deb = clipart_deb()
    n = f"{limit}" if limit is not None else "all"
    path = cache_dir() / "images" / f"{deb.stem}-v{CACHE_VERSION}-{split}-{n}-{SIZE}.npz"

    def build() -> dict[str, np.ndarray]:
        images = []
        for i, (_, blob) in enumerate(sorted(deb_files(deb, ".png"))):
            if (i % 4 == 0) != (split == "test"):
                continue
            try:
                images.append(preprocess(blob))
            except (OSError, ValueError):       # damaged or too large: skipped, the split stays deterministic
                continue
            if limit is not None and len(images) >= limit:
                break
        return {"x": np.stack(images), "y": np.full(len(images), -1, dtype=np.int64)}

    arrays = cached_npz(path, build, ("x", "y"))
    meta = {"dataset": "openclipart", "synthetic": False, "labels": False,
            "source": f"{PACKAGE} drawings ({deb.name}, {split} split), public domain; no ImageNet labels"}
    return arrays["x"], arrays["y"], meta
