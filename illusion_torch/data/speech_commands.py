"""Speech Commands: the real WAV folders when present, else ``tts-commands`` (SYNTHETIC, espeak-ng).

Usage::

    from illusion_torch.data.speech_commands import load_speech_commands
    feats, labels, meta = load_speech_commands("test")     # (N, 40, 10) float32, (N,) uint8 in 0..10

Real layout (v0.01): ``<root>/<word>/<speaker>_nohash_<n>.wav`` with ``testing_list.txt`` and
``validation_list.txt``, in ``$ILLUSION_SPEECH_COMMANDS_DIR`` or ``<cache>/speech_commands``. The test split
is ``testing_list.txt``; train is every other clip outside ``validation_list.txt``. Ten keywords keep their
class, every other word is *unknown*; ``_background_noise_`` is skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import IllusionError
from . import tts_commands
from .cache import cache_dir, cached_npz
from .speech_features import SAMPLE_RATE, mfcc_frames

__all__ = ["load_speech_commands", "load_tts_commands", "read_speech_commands_dir"]


def _read_wav(path: Path) -> np.ndarray:
    import scipy.io.wavfile

    rate, wave = scipy.io.wavfile.read(path)
    if rate != SAMPLE_RATE:
        raise IllusionError(f"{path}: sample rate {rate} Hz, Speech Commands clips are {SAMPLE_RATE} Hz")
    if wave.dtype == np.int16:
        return wave.astype(np.float32) / 32768.0
    return wave.astype(np.float32)


def read_speech_commands_dir(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    lists = {name: set((root / f"{name}_list.txt").read_text().split())
             for name in ("testing", "validation") if (root / f"{name}_list.txt").is_file()}
    keyword_class = {w: i for i, w in enumerate(tts_commands.KEYWORDS)}
    feats, labels = [], []
    for wav in sorted(root.glob("*/*.wav")):
        word = wav.parent.name
        if word.startswith("_"):
            continue
        rel = f"{word}/{wav.name}"
        in_test = rel in lists.get("testing", set())
        if (split == "test") != in_test or rel in lists.get("validation", set()):
            continue
        feats.append(mfcc_frames(_read_wav(wav)))
        labels.append(keyword_class.get(word, len(tts_commands.KEYWORDS)))
    if not feats:
        raise IllusionError(f"no {split} clips found in {root}; is testing_list.txt there?")
    return np.stack(feats), np.asarray(labels, dtype=np.uint8)


def load_tts_commands(split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    size = tts_commands.SPLIT_SIZES[split]
    meta = {"dataset": "tts-commands", "synthetic": True,
            "source": f"SYNTHETIC tts-commands: espeak-ng voices, seed {tts_commands.SEED}; not Speech Commands"}
    if limit is not None and limit < size:
        feats, labels = tts_commands.render_split(split, limit)
        return feats, labels, meta
    path = cache_dir() / "tts-commands" / f"{split}-{size}.npz"
    def build() -> dict[str, np.ndarray]:
        feats, labels = tts_commands.render_split(split, size)
        return {"feats": feats, "labels": labels}

    arrays = cached_npz(path, build, ("feats", "labels"))
    return arrays["feats"], arrays["labels"], meta


def load_speech_commands(split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    dirs = [cache_dir() / "speech_commands"]
    if os.environ.get("ILLUSION_SPEECH_COMMANDS_DIR"):
        dirs.insert(0, Path(os.environ["ILLUSION_SPEECH_COMMANDS_DIR"]))
    for root in dirs:
        if (root / "testing_list.txt").is_file():
            feats, labels = read_speech_commands_dir(root, split)
            return feats, labels, {"dataset": "speech-commands", "synthetic": False,
                                   "source": f"Speech Commands WAV folders in {root}"}
    return load_tts_commands(split, limit)
