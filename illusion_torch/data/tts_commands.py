"""``tts-commands`` (SYNTHETIC): spoken keywords rendered by ``espeak-ng``, an offline Speech Commands stand-in.

Not Speech Commands. Ten keywords (yes no up down left right on off stop go) and an *unknown* class of
other words (Speech Commands v0.01's auxiliary words), spoken by espeak-ng's English voices with its voice
variants, random speed, pitch and word gap, resampled to 16 kHz, shifted in time inside a 1 s clip,
scaled, and mixed with white/brown noise. Item ``i`` of a split has its own seeded generator; train and
test use disjoint voice-variant sets, so the test split measures generalization to unheard speakers.

Usage::

    from illusion_torch.data.tts_commands import render_split
    feats, labels = render_split("test", 110)      # (110, 40, 10) float32 MFCC frames, (110,) uint8
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np

from .cache import SourceMissing
from .speech_features import SAMPLE_RATE, fit_one_second, mfcc_frames

__all__ = ["KEYWORDS", "UNKNOWN_WORDS", "CLASSES", "render_item", "render_split", "speak", "SPLIT_SIZES",
           "SEED"]

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN_WORDS = ("bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow",
                 "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
CLASSES = (*KEYWORDS, "unknown")
SEED = 2021
SPLIT_SIZES = {"train": 8800, "test": 1650}
_SPLIT_IDS = {"train": 1, "test": 2}
_ACCENTS = ("en", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029",
            "en-us-nyc")
_VARIANTS = {
    "train": ("", "m1", "m2", "m3", "m4", "m5", "m6", "f1", "f2", "f3", "klatt", "klatt2", "adam", "alex",
              "andy", "annie", "belinda", "benjamin", "caleb", "david", "ed", "edward", "john", "linda",
              "max", "michael", "paul", "rob", "robert", "steph", "travis", "victor", "zac", "grandma"),
    "test": ("m7", "f4", "f5", "klatt3", "norbert", "shelby", "quincy", "grandpa", "boris", "iven"),
}


def _espeak() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SourceMissing("tts-commands needs espeak-ng: run `apt-get install espeak-ng` (or `make data`)")
    return exe


def speak(word: str, voice: str, speed: int, pitch: int, gap: int = 0) -> np.ndarray:
    """espeak-ng's rendering of ``word`` at 16 kHz, float32 in [-1, 1]."""
    import librosa

    out = subprocess.run([_espeak(), "-v", voice, "-s", str(speed), "-p", str(pitch), "-g", str(gap),
                          "--stdout", word], capture_output=True, check=True).stdout
    if len(out) < 44 or out[:4] != b"RIFF":
        raise RuntimeError(f"espeak-ng returned no WAV for voice {voice!r}; check `espeak-ng --voices`")
    rate = int.from_bytes(out[24:28], "little")
    wave = np.frombuffer(out[44:44 + (len(out) - 44) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
    return librosa.resample(wave, orig_sr=rate, target_sr=SAMPLE_RATE)


def render_item(split: str, index: int) -> tuple[np.ndarray, int]:
    """Features (40, 10) and class of item ``index`` of ``split``."""
    rng = np.random.default_rng([SEED, _SPLIT_IDS[split], index])
    label = int(rng.integers(len(CLASSES)))
    word = KEYWORDS[label] if label < len(KEYWORDS) else UNKNOWN_WORDS[int(rng.integers(len(UNKNOWN_WORDS)))]
    variants = _VARIANTS[split]
    variant = variants[int(rng.integers(len(variants)))]
    voice = _ACCENTS[int(rng.integers(len(_ACCENTS)))] + (f"+{variant}" if variant else "")
    wave = speak(word, voice, speed=int(rng.integers(110, 230)), pitch=int(rng.integers(15, 85)))
    wave = wave[: SAMPLE_RATE]
    wave = wave / (np.abs(wave).max() + 1e-6) * rng.uniform(0.2, 0.9)
    offset = int(rng.integers(0, max(SAMPLE_RATE - len(wave), 0) + 1)) + int(rng.integers(-1600, 1600))
    clip = fit_one_second(wave, offset)
    white = rng.normal(0, 1, SAMPLE_RATE)
    brown = np.cumsum(rng.normal(0, 1, SAMPLE_RATE))
    brown = (brown - brown.mean()) / (brown.std() + 1e-9)
    noise = white if rng.random() < 0.5 else brown
    snr_db = rng.uniform(5, 35)
    signal_rms = np.sqrt(np.mean(clip ** 2)) + 1e-9
    clip = clip + noise * signal_rms / 10 ** (snr_db / 20)
    return mfcc_frames(clip.astype(np.float32)), label


def render_split(split: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    feats = np.empty((count, 40, 10), dtype=np.float32)
    labels = np.empty(count, dtype=np.uint8)
    for i in range(count):
        feats[i], labels[i] = render_item(split, i)
    return feats, labels
