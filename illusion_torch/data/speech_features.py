"""Keyword-spotting features: 10 MFCCs × 40 frames of a 1 s, 16 kHz clip, computed with librosa.

Usage::

    from illusion_torch.data.speech_features import mfcc_frames
    feats = mfcc_frames(wave)        # wave: float32 (16000,) in [-1, 1] -> (40, 10) float32

40 ms windows (640 samples), 390-sample hop, no centring: exactly 40 frames per second; 40 mel bands.
Each clip's coefficients are normalized over its own frames (cepstral mean and variance normalization),
so no dataset statistics are needed and values fit the LSTM's FixedPoint(8,4) inputs.
"""

from __future__ import annotations

import numpy as np

__all__ = ["mfcc_frames", "fit_one_second", "SAMPLE_RATE", "FRAMES", "COEFFICIENTS"]

SAMPLE_RATE = 16000
FRAMES = 40
COEFFICIENTS = 10


def fit_one_second(wave: np.ndarray, offset: int = 0) -> np.ndarray:
    """Place ``wave`` at ``offset`` samples in a 1 s buffer (cropping what falls outside)."""
    out = np.zeros(SAMPLE_RATE, dtype=np.float32)
    start = max(offset, 0)
    src = wave[max(-offset, 0):]
    n = min(len(src), SAMPLE_RATE - start)
    if n > 0:
        out[start:start + n] = src[:n]
    return out


def mfcc_frames(wave: np.ndarray) -> np.ndarray:
    import librosa

    wave = fit_one_second(np.asarray(wave, dtype=np.float32))
    mfcc = librosa.feature.mfcc(y=wave, sr=SAMPLE_RATE, n_mfcc=COEFFICIENTS, n_fft=640, hop_length=390,
                                n_mels=40, center=False)
    mfcc = mfcc.T[:FRAMES]
    mfcc = (mfcc - mfcc.mean(axis=0, keepdims=True)) / (mfcc.std(axis=0, keepdims=True) + 1e-3)
    return mfcc.astype(np.float32)
