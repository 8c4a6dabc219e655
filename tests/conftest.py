import os

import pytest
from hypothesis import settings

import illusion_torch as il

# CI draws the same examples every run (a failure there must be reproducible); locally each run explores anew
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """A fresh, empty dataset cache and no real-data directories from the environment."""
    from illusion_torch.data import cache

    for var in ("ILLUSION_MNIST_DIR", "ILLUSION_FASHION_MNIST_DIR", "ILLUSION_SVHN_DIR",
                "ILLUSION_SPEECH_COMMANDS_DIR"):
        monkeypatch.delenv(var, raising=False)
    cache.set_cache_dir(tmp_path / "cache")
    yield tmp_path / "cache"
    cache.set_cache_dir(None)


@pytest.fixture(scope="session")
def shipped():
    """``shipped(name, limit)`` -> (model, x, y): a shipped checkpoint and the first ``limit`` inputs of its test
    split, loaded once per session. Sharing them is safe because nothing in the pipeline changes a user's
    model or inputs (tests/e2e/test_pipeline_tiny.py checks that); every test builds its own systems."""
    loaded: dict = {}

    def get(name: str, limit: int | None = 64):
        if (name, limit) not in loaded:
            loaded[(name, limit)] = (il.load(name), *il.checkpoint.record(name).test_data(limit=limit))
        return loaded[(name, limit)]

    return get
