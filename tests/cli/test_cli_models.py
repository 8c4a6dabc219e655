"""Any model from the command line: torchvision classifiers, a user's factory and its weights, token inputs."""

import json
import textwrap

import pytest
import torch

from illusion_torch.cli import main

FACTORY = textwrap.dedent("""
    import torch
    from torch import nn

    def build():
        return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.fc = nn.Embedding(50, 8), nn.Linear(8, 4)

        def forward(self, idx):
            return self.fc(self.emb(idx)).mean(1)

    def tagger():
        return Tagger()

    def not_a_model():
        return 3
""")


@pytest.fixture
def user_models(tmp_path, monkeypatch):
    (tmp_path / "user_nets.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    torch.manual_seed(0)
    import importlib

    nets = importlib.import_module("user_nets")
    torch.save(nets.build().state_dict(), tmp_path / "w.pt")
    return tmp_path


def _json(capsys):
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_partition_any_torchvision_classifier(capsys):
    args = ["partition", "--model", "torchvision:mobilenet_v3_small", "--input-shape", "3,32,32", "--chips", "4",
            "--solver", "first-fit", "--capacity", "2MiB", "--json", "-"]
    assert main(args) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["chips"] <= 4 and result["weight_bytes"] > result["params_bytes"] > 0    # + norm statistics
    assert sum(c["weight_bytes"] for c in result["per_chip"]) == result["weight_bytes"]
    assert result["placed_bytes"] == result["params_bytes"] and result["placed_share"] == 1.0
    assert "% of parameter bytes are on chips" not in captured.err


@pytest.mark.slow
def test_run_a_users_factory_with_its_weights(user_models, capsys, tmp_path):
    args = ["run", "--model", "user_nets:build", "--weights", str(user_models / "w.pt"), "--input-shape", "6",
            "--chips", "2", "--capacity", "300B", "--preset", "accelerator-28nm", "--out", str(tmp_path / "r"),
            "--json", "-"]
    assert main(args) == 0
    result = _json(capsys)
    assert result["chips"] == 2 and result["mismatches"] == 0 and result["synthetic"] is True


@pytest.mark.slow
def test_run_a_token_model(user_models, capsys, tmp_path):
    args = ["run", "--model", "user_nets:tagger", "--input-shape", "7", "--vocab", "50", "--chips", "4",
            "--capacity", "300B", "--out", str(tmp_path / "t"), "--json", "-"]
    assert main(args) == 0
    result = _json(capsys)
    assert result["mismatches"] == 0 and result["dataset"] == "random-tokens"


@pytest.mark.parametrize("model, extra, says", [
    ("torchvision:nonet", [], "torchvision has no classifier 'nonet'"),
    ("no_such_pkg.nets:build", [], "no module 'no_such_pkg' in the current folder"),
    ("user_nets:not_a_model", [], "returned int, not an nn.Module"),
    ("user_nets:tagger", ["--weights", "W"], "--weights"),
])
def test_bad_model_specs_are_one_line(user_models, capsys, model, extra, says):
    extra = [str(user_models / "w.pt") if a == "W" else a for a in extra]
    assert main(["partition", "--model", model, *extra, "--chips", "2"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    err = [line for line in lines if not line.startswith("[partition] ")]   # a slow stage may name itself first
    assert len(err) == 1 and says in err[0], lines
