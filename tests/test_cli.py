import json

from illusion_torch.cli import main


def test_run_evaluates_the_mnist_checkpoint(tmp_path, capsys):
    assert main(["run", "--limit", "300", "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "mnist: fixed-point accuracy" in out and "300 mnist test samples" in out
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["samples"] == 300 and result["accuracy"] > 0.9


def test_unknown_model_is_one_clear_line(capsys):
    assert main(["eval", "lenet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no checkpoint 'lenet'" in err[0] and "illusion train lenet" in err[0]


def test_unknown_training_recipe(capsys):
    assert main(["train", "lenet"]) == 2
    assert "valid names:" in capsys.readouterr().err


def test_models_lists_registry(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "mnist" in out and "trained checkpoint" in out and "resnet50" in out
