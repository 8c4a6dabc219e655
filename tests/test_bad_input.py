"""Bad input, tried as a new user would: one clear line (exit 2) or the right result; nothing half-written."""

import json
import os

import pytest
import torch

import illusion_torch as il
from illusion_torch.cli import main
from illusion_torch.errors import IllusionError
from illusion_torch.units import parse_bytes

pytestmark = pytest.mark.slow        # shipped checkpoints, datasets or calibration


def _one_line(capsys, *needles):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    for needle in needles:
        assert needle in err[0], err[0]
    return err[0]


@pytest.mark.parametrize("args, says", [
    (["lifetime", "--rate", "nan"], "--rate"),
    (["lifetime", "--rate", "inf"], "--rate"),
    (["lifetime", "--eps", "nan"], "--eps"),
    (["lifetime", "--c", "nan"], "--c"),
    (["lifetime", "--years", "1e6"], "years must be a number in (0, 100]"),
    (["lifetime", "--chips", "0"], "--chips"),
    (["lifetime", "--seed", "-1"], "--seed"),
    (["lifetime", "--plot", "somewhere"], "--plot"),
    (["train", "mnist", "--epochs", "-1"], "--epochs"),
    (["train", "mnist", "--epochs", "0"], "--epochs"),
    (["run", "--capacity", "1e400"], "too large"),
    (["run", "--chips", "4", "--max-chips", "8"], "not allowed with argument"),
    (["partition", "--model", "mnist", "--chips", "4", "--max-chips", "8"], "not allowed with argument"),
    (["eval", "nosuch"], "no shipped checkpoint 'nosuch'"),
])
def test_cli_bad_values_are_one_line_naming_the_option(args, says, capsys):
    assert main(args) == 2
    _one_line(capsys, says)


def test_eval_of_a_missing_checkpoint_suggests_only_real_recipes(capsys):
    assert main(["eval", "nosuch"]) == 2
    assert "illusion train" not in _one_line(capsys)


def test_partition_honours_chips_with_the_run_capacity_rule(tmp_path):
    out = tmp_path / "p.json"
    assert main(["partition", "--model", "mnist", "--chips", "4", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["chips"] == 4 and result["capacity_bytes"] == 1024     # the paper's MNIST 4-chip memory


def test_json_dash_is_stdout(capsys):
    assert main(["partition", "--model", "mnist", "--json", "-"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["chips"] == 8 and not os.path.exists("-")


@pytest.mark.parametrize("where", ["dir", "readonly"])
def test_unwritable_outputs_are_refused_before_any_work(where, tmp_path, capsys):
    target = tmp_path / "out.json"
    if where == "dir":
        target.mkdir()
    else:
        tmp_path.chmod(0o500)
    try:
        if os.access(tmp_path, os.W_OK) and where == "readonly":
            pytest.skip("running as a user who can write anywhere")
        assert main(["partition", "--model", "mnist", "--json", str(target)]) == 2
        _one_line(capsys, str(target))
    finally:
        tmp_path.chmod(0o700)


def test_run_out_on_an_existing_file_is_refused_before_any_work(tmp_path, capsys):
    target = tmp_path / "report"
    target.write_text("a file the user keeps")
    assert main(["run", "--out", str(target)]) == 2
    _one_line(capsys, "a file of that name exists")
    assert target.read_text() == "a file the user keeps"


def test_report_folder_holds_one_run(tmp_path):
    model = il.load("mnist")
    x, y = il.data.load("mnist", "test", limit=20)
    report = il.partition(model, x[:1], chips=8, capacity="512B").run(x, y)
    out = tmp_path / "run"
    out.mkdir()
    (out / "mapping.png").write_bytes(b"from another run")
    report.save(out)
    assert sorted(p.name for p in out.iterdir()) == [".illusion-report", "energy_breakdown.png", "mapping.png",
                                                     "power_timeline.png", "report.json"]
    assert (out / "mapping.png").read_bytes() != b"from another run"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]     # no temporary folder left
    assert (out / "report.json").stat().st_mode & 0o044 == 0o044 & ~os.umask(os.umask(0))   # a normal file's mode


def test_training_never_overwrites_a_checkpoint_unasked(tmp_path, capsys):
    (tmp_path / "mnist.json").write_text("{}")
    assert main(["train", "mnist", "--out", str(tmp_path)]) == 2
    _one_line(capsys, "--overwrite")


def test_nan_inputs_are_refused_not_counted_as_mismatches():
    model = il.load("mnist")
    x, y = il.data.load("mnist", "test", limit=4)
    x[2, 0, 0, 0] = float("nan")
    system = il.partition(model, x[:1], chips=8, capacity="512B")
    with pytest.raises(IllusionError, match="input 2 holds NaN"):
        system.run(x, y)


def test_chips_true_is_not_one_chip():
    model = il.load("mnist")
    x, _ = il.data.load("mnist", "test", limit=1)
    with pytest.raises(IllusionError, match="positive whole number"):
        il.partition(model, x, chips=True, capacity="4KiB")


def test_sizes_too_large_or_not_finite():
    for bad in ("1e400", "inf", float("inf"), "nan"):
        with pytest.raises(IllusionError):
            parse_bytes(bad)


@pytest.mark.parametrize("content", ["[]", "{}", '{"name": "mnist"}'])
def test_checkpoint_json_without_its_fields(tmp_path, content):
    import shutil

    from illusion_torch.checkpoint import CheckpointError, checkpoint_dir

    shutil.copy(checkpoint_dir() / "mnist.pt", tmp_path / "mnist.pt")
    (tmp_path / "mnist.json").write_text(content)
    with pytest.raises(CheckpointError, match="mnist.json"):
        il.checkpoint.load("mnist", tmp_path)


def test_swapped_weights_file_is_named(tmp_path):
    import shutil

    from illusion_torch.checkpoint import CheckpointError, checkpoint_dir

    shutil.copy(checkpoint_dir() / "svhn.pt", tmp_path / "mnist.pt")
    shutil.copy(checkpoint_dir() / "mnist.json", tmp_path / "mnist.json")
    with pytest.raises(CheckpointError, match="holds a 'svhn' model but its JSON names 'mnist'"):
        il.checkpoint.load("mnist", tmp_path)


def test_cache_that_is_a_file_or_unwritable(tmp_path, monkeypatch):
    from illusion_torch.data import SourceMissing, cache

    f = tmp_path / "cache"
    f.write_text("not a folder")
    cache.set_cache_dir(f)
    try:
        with pytest.raises(SourceMissing, match="is a file"):
            il.data.load("svhn", "test")
    finally:
        cache.set_cache_dir(None)


def test_truncated_cache_file_is_rebuilt(tmp_path):
    import numpy as np

    from illusion_torch.data.cache import cached_npz

    path = tmp_path / "x.npz"
    path.write_bytes(b"PK\x03\x04 truncated")
    built = cached_npz(path, lambda: {"a": np.arange(3)}, ("a",))
    assert built["a"].tolist() == [0, 1, 2]
    assert cached_npz(path, lambda: {"a": np.zeros(1)}, ("a",))["a"].tolist() == [0, 1, 2]   # now read back


def test_truncated_training_state_is_named(tmp_path):
    import torch.nn.functional as F

    from illusion_torch.train import Recipe, run_epochs

    state = tmp_path / "mnist.state.pt"
    state.write_bytes(b"\x80\x02 truncated")
    recipe = Recipe(name="mnist", model="mnist", dataset="mnist", epochs=1)
    model = il.models.get_model("mnist")
    with pytest.raises(IllusionError, match="delete it"):
        run_epochs(model, recipe, lambda m, xb, yb: F.cross_entropy(m(xb), yb), torch.zeros(2, 1, 28, 28),
                   torch.zeros(2, dtype=torch.long), state)


def test_register_model_refuses_a_duplicate():
    with pytest.raises(IllusionError, match="already registered"):
        il.register_model("mnist", il.models.MnistCNN)


def test_lifetime_rate_of_an_unknown_workload_names_the_option():
    model = il.load("mnist")
    x, y = il.data.load("mnist", "test", limit=8)
    system = il.partition(model, x[:1], chips=8, capacity="512B")
    from illusion_torch.wear import simulate

    with pytest.raises(IllusionError, match="--rate"):
        simulate(system, x, y, years=0.01)
    assert simulate(system, x, y, years=0.01, rate=100).points[0].label == "ZERO"


def test_an_unwritable_cache_says_where_to_point_it(tmp_path, monkeypatch):
    import numpy as np

    from illusion_torch.data import SourceMissing
    from illusion_torch.data.cache import cached_npz

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(np, "savez_compressed", refuse)       # as in a read-only ILLUSION_CACHE
    with pytest.raises(SourceMissing, match="ILLUSION_CACHE to a writable folder"):
        cached_npz(tmp_path / "x.npz", lambda: {"a": np.arange(3)}, ("a",))
