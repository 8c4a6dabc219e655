import pytest


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
