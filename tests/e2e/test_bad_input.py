"""Bad input, tried as a new user would: one clear line (exit 2) or the right result; nothing half-written,
nothing of the user's lost.

Cases on a user's own small models (the module ``probe_nets`` written into a temporary folder) are in the fast
tier; those that need a shipped checkpoint's data, and the Ctrl-C tests (real processes), are slow."""

import json
import os

import pytest
import torch

import illusion_torch as il
from illusion_torch.cli import main
from illusion_torch.errors import IllusionError
from illusion_torch.units import parse_bytes

slow = pytest.mark.slow        # shipped checkpoints, datasets, calibration or real processes


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


@slow
def test_partition_honours_chips_with_the_run_capacity_rule(tmp_path):
    out = tmp_path / "p.json"
    assert main(["partition", "--model", "mnist", "--chips", "4", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["chips"] == 4 and result["capacity_bytes"] == 1024     # the paper's MNIST 4-chip memory


@slow
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


@slow
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


@slow
def test_nan_inputs_are_refused_not_counted_as_mismatches():
    model = il.load("mnist")
    x, y = il.data.load("mnist", "test", limit=4)
    x[2, 0, 0, 0] = float("nan")
    system = il.partition(model, x[:1], chips=8, capacity="512B")
    with pytest.raises(IllusionError, match="input 2 holds NaN"):
        system.run(x, y)


@slow
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


@slow
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


@slow
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


@slow
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


# ---- a new user's own models (fast): the probe of issue 23, case by case ----

PROBE_NETS = '''
import pathlib
import torch
from torch import nn

def _called():                       # lets a test see whether any work started
    pathlib.Path("factory-called").write_text("yes")

class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 5)
    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))

def good():
    _called()
    return Small()

def raises():
    raise RuntimeError("boom")

def needs_arg(n):
    return Small()

notcallable = 3

class Two(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 4)
    def forward(self, x, y):
        return self.fc(x + y)

def two():
    return Two()

class Optional(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 4)
    def forward(self, x, mask=None):
        if mask is not None:
            x = x * mask
        return self.fc(x)

def optional():
    return Optional()

class NoParam(nn.Module):
    def forward(self, x):
        return torch.relu(x)

def noparam():
    return NoParam()

class Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 4)
        self.aux = nn.Linear(16, 2)
    def forward(self, x):
        return self.fc(x), self.aux(x)

def pair():
    return Pair()

class Named(Pair):
    def forward(self, x):
        return {"logits": self.fc(x), "aux": self.aux(x)}

def named():
    return Named()

class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(100, 8)
        self.fc = nn.Linear(8, 4)
    def forward(self, x):
        return self.fc(self.emb(x).mean(1))

def tagger():
    return Tagger()
'''

SMALL = ["--input-shape", "3,8,8"]


@pytest.fixture
def user(tmp_path, monkeypatch):
    """A user's folder holding probe_nets.py, a few weight files and files of their own; the test runs there."""
    import importlib
    import sys

    (tmp_path / "probe_nets.py").write_text(PROBE_NETS)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("three years of work")
    (tmp_path / "mine" / "sub").mkdir()
    (tmp_path / "mine" / "sub" / "data.csv").write_text("1,2\n")
    torch.save([1, 2], tmp_path / "list.pt")
    (tmp_path / "text.pt").write_text("hello")
    torch.save(nn_two_state(), tmp_path / "two.pt")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "probe_nets", raising=False)
    importlib.invalidate_caches()
    yield tmp_path
    sys.modules.pop("probe_nets", None)


def nn_two_state() -> dict:
    return torch.nn.Linear(16, 4).state_dict()


def _tree(root) -> dict:
    """Every file and folder under ``root`` with its bytes and mode: what 'no damage' compares."""
    from pathlib import Path

    out = {}
    for p in sorted(Path(root).rglob("*")):
        if p.name == "factory-called" or "__pycache__" in p.parts:     # the probe's own traces
            continue
        out[str(p.relative_to(root))] = (p.read_bytes() if p.is_file() else None, p.stat().st_mode)
    out["."] = (None, Path(root).stat().st_mode)
    return out


def _checkpoints() -> dict:
    from illusion_torch.checkpoint import checkpoint_dir

    return _tree(checkpoint_dir())


@pytest.mark.parametrize("args, says", [
    (["run", "--model", "probe_nets:raises"], "raised RuntimeError: boom"),
    (["run", "--model", "probe_nets:needs_arg"], "takes arguments (n)"),
    (["run", "--model", "probe_nets:notcallable"], "is int 3, not a callable"),
    (["run", "--model", "probe_nets:nothere"], "probe_nets has no 'nothere'"),
    (["run", "--model", "nosuchmodule:build"], "no module 'nosuchmodule' in the current folder"),
    (["run", "--model", "probe_nets:two", "--input-shape", "16"], "forward needs 2 inputs (x, y)"),
    (["partition", "--model", "probe_nets:good", "--input-shape", "3,28,28"], "--input-shape 3,28,28"),
    (["partition", "--model", "probe_nets:good", "--input-shape", "1,3,8,8"], "--input-shape 1,3,8,8"),
    (["partition", "--model", "probe_nets:good"], "the model's default (no --input-shape)"),
    (["partition", "--model", "probe_nets:good", "--input-shape", "3,100000,100000"], "--input-shape"),
    (["partition", "--model", "probe_nets:tagger", "--input-shape", "12", "--vocab", "1000"], "--vocab 100 or less"),
    (["partition", "--model", "probe_nets:good", *SMALL, "--weights", "list.pt"], "holds a list, not a state dict"),
    (["partition", "--model", "probe_nets:good", *SMALL, "--weights", "text.pt"], "not a state dict saved with"),
    (["partition", "--model", "probe_nets:good", *SMALL, "--weights", "two.pt"], "conv.weight"),
    (["partition", "--model", "probe_nets:good", *SMALL, "--weights", "none.pt"], "--weights none.pt: no such file"),
    (["partition", "--model", "probe_nets:noparam", "--input-shape", "16"], "has no parameters"),
    (["partition", "--model", "probe_nets:good", *SMALL, "--chips", "10000000"], "give --capacity, or fewer --chips"),
    (["partition", "--model", "probe_nets:good", *SMALL, "--chips", "2", "--capacity", "64B"],
     "give a larger --capacity, or more --chips"),
    (["run", "--model", "probe_nets:good", *SMALL, "--procs", "1"], "--procs: must be at least 2"),
    (["run", "--model", "probe_nets:good", *SMALL, "--procs", "0"], "--procs: must be at least 2"),
    (["run", "--model", "probe_nets:good", *SMALL, "--depth", "3"], "--depth only applies to a distributed run"),
    (["run", "--model", "probe_nets:good", *SMALL, "--batch", "3"], "--batch only applies to a distributed run"),
    (["run", "--model", "probe_nets:good", *SMALL, "--schedule", "pipelined"], "--schedule only applies"),
    (["run", "--model", "probe_nets:good", *SMALL, "--procs", "3", "--schedule", "one", "--depth", "4"],
     "add --schedule pipelined, or drop --depth"),
    (["run", "--model", "probe_nets:good", "--input-shape", "-3,8,8"], "--input-shape: every size must be at least"),
    (["run", "--model", "probe_nets:good", *SMALL, "--capacity", "-1KiB"], "--capacity: a size must be positive"),
    (["lifetime", "--spares", "-1"], "--spares: must be at least 0"),
    (["run", "--model", "probe_nets:good", *SMALL, "--out", ""], "needs a folder name"),
    (["run", "--model", "probe_nets:good", *SMALL, "--out", "."], "the current folder"),
    (["run", "--model", "probe_nets:good", *SMALL, "--out", "mine"], "holds files this command did not write"),
    (["run", "--model", "probe_nets:good", *SMALL, "--out", "mine/sub"], "data.csv"),
    (["run", "--model", "probe_nets:good", *SMALL, "--json", "/proc/x.json"], "/proc"),
    (["partition", "--model", "probe_nets:good", *SMALL, "--plot", "/proc/x.png"], "/proc"),
    (["run", "--model", "probe_nets:good", *SMALL, "--out", "/proc/rep"], "/proc"),
    (["run", "--model", "probe_nets:good", *SMALL, "--json", "/sys/x.json"], "/sys"),
    (["run", "--model", "probe_nets:good", *SMALL, "--out", "/sys/rep"], "/sys"),
])
def test_a_new_users_mistakes_are_one_line_and_cost_nothing(user, args, says, capsys):
    root = "/" + args[-1].split("/")[1] if args[-1].startswith("/") else None
    if root is not None and not os.path.isdir(root):
        pytest.skip(f"no {root} here")
    before, shipped = _tree(user), _checkpoints()
    assert main(args) == 2
    line = _one_line(capsys, says)
    assert "Traceback" not in line
    assert _tree(user) == before and _checkpoints() == shipped        # nothing written, nothing lost
    if any(a in args for a in ("--out", "--json", "--plot")):
        assert not (user / "factory-called").exists()                # refused before any work


@pytest.mark.parametrize("place", ["home", "project", "checkpoints", "above"])
def test_out_never_replaces_home_project_or_a_folder_above(user, place, monkeypatch, capsys):
    from pathlib import Path

    import illusion_torch

    project = Path(illusion_torch.__file__).resolve().parent.parent
    monkeypatch.setenv("HOME", str(user / "mine"))
    target = {"home": "~", "project": str(project), "checkpoints": str(project / "checkpoints"),
              "above": str(user.parent)}[place]
    target = os.path.expanduser(target)
    before = _tree(user / "mine")
    assert main(["run", "--model", "probe_nets:good", *SMALL, "--out", target]) == 2
    _one_line(capsys, "refusing to write the report folder")
    assert _tree(user / "mine") == before and not (user / "factory-called").exists()


@pytest.mark.slow
def test_out_replaces_only_an_earlier_report_and_keeps_its_mode(user, capsys):
    out = user / "report"
    assert main(["run", "--model", "probe_nets:good", *SMALL, "--limit", "1", "--out", str(out)]) == 0
    assert (out / ".illusion-report").is_file() and (out / "report.json").is_file()
    out.chmod(0o750)
    first = json.loads((out / "report.json").read_text())
    assert main(["run", "--model", "probe_nets:good", *SMALL, "--limit", "2", "--out", str(out)]) == 0   # again
    assert json.loads((out / "report.json").read_text())["samples"] == 2 != first["samples"]
    assert out.stat().st_mode & 0o777 == 0o750
    (out / "notes.txt").write_text("the user's")
    capsys.readouterr()
    assert main(["run", "--model", "probe_nets:good", *SMALL, "--out", str(out)]) == 2
    _one_line(capsys, "notes.txt")
    assert (out / "notes.txt").read_text() == "the user's"
    assert not [p for p in user.iterdir() if p.name.startswith(".report")]      # no temporary folder left


@pytest.mark.slow
def test_default_report_folder_twice_works_like_make_run(user, capsys):
    for _ in range(2):
        assert main(["run", "--model", "probe_nets:good", *SMALL, "--limit", "1"]) == 0
    (folder,) = (user / "runs").iterdir()
    assert folder.name.startswith("probe_nets:good-") and (folder / "report.json").is_file()


def test_torchrun_variables_left_in_the_environment_are_named(user, monkeypatch, capsys):
    for var, value in (("RANK", "0"), ("WORLD_SIZE", "3"), ("MASTER_ADDR", "127.0.0.1")):
        monkeypatch.setenv(var, value)
    assert main(["run", "--model", "probe_nets:good", *SMALL, "--procs", "3"]) == 2
    _one_line(capsys, "RANK, WORLD_SIZE, MASTER_ADDR are set in the environment", "unset them")


def test_optional_forward_arguments_take_their_defaults(user, capsys):
    assert main(["run", "--model", "probe_nets:optional", "--input-shape", "16", "--capacity", "1KiB", "--limit",
                 "2", "--out", "r", "--json", "r.json"]) == 0
    assert json.loads((user / "r.json").read_text())["mismatches"] == 0


@pytest.mark.parametrize("factory, says", [("pair", "item 0 of the model's tuple output"),
                                           ("named", "'logits' of the model's dict output")])
def test_a_tuple_or_dict_output_runs_its_first_tensor(user, factory, says, capsys):
    assert main(["run", "--model", f"probe_nets:{factory}", "--input-shape", "16", "--capacity", "1KiB",
                 "--limit", "3", "--out", "r", "--json", "r.json"]) == 0
    assert says in capsys.readouterr().out
    assert json.loads((user / "r.json").read_text())["mismatches"] == 0


def _probe_nets(user):
    import importlib.util

    spec = importlib.util.spec_from_file_location("probe_nets_api", user / "probe_nets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_outputs_and_defaults_are_the_models(user):
    nets = _probe_nets(user)
    x = torch.randn(5, 16)
    for model, pick in ((nets.pair(), lambda out: out[0]), (nets.named(), lambda out: out["logits"]),
                        (nets.optional(), lambda out: out)):
        system = il.partition(model, x[:1], chips=2, capacity="1KiB")
        assert torch.equal(system(x), system.reference(x))
        assert torch.allclose(system(x).float(), pick(model(x)), atol=1e-6)


def test_api_bad_inputs_raise_illusion_error_and_print_nothing(user, capsys):
    nets = _probe_nets(user)
    model = nets.good()
    x = torch.randn(3, 3, 8, 8)
    bad_partition = [
        (lambda: il.partition(model, torch.randn(1, 3, 28, 28), chips=2, capacity="1KiB"), "layer fc (Linear)"),
        (lambda: il.partition(model, x[0], chips=2, capacity="1KiB"), "example inputs of shape (3, 8, 8)"),
        (lambda: il.partition(model, x[:1].long(), chips=2, capacity="1KiB"), "(int64)"),
        (lambda: il.partition(model, [x[:1]], chips=2, capacity="1KiB"), "got list"),
        (lambda: il.partition(nets.good().to("meta"), x[:1], chips=2, capacity="1KiB"), "meta device"),
        (lambda: il.partition(nets.good().to("meta"), x[:1].to("meta"), chips=2, capacity="1KiB"), "meta device"),
        (lambda: il.partition("mnist", x[:1], chips=2, capacity="1KiB"), "il.load('mnist')"),
        (lambda: il.partition(nets.two(), torch.randn(1, 16), chips=2, capacity="1KiB"), "needs 2 inputs"),
    ]
    system = il.partition(model, x[:1], chips=2, capacity="1KiB")
    bad_system = [
        (lambda: system(torch.randn(2, 3, 28, 28)), "traced on inputs of shape (N, 3, 8, 8)"),
        (lambda: system(x[0]), "have shape (3, 8, 8)"),
        (lambda: system(x.long()), "pass x.float()"),
        (lambda: system([x]), "must be a tensor"),
        (lambda: system(x.to("meta")), "meta device"),
        (lambda: system.run(torch.randn(2, 3, 28, 28)), "traced on inputs of shape"),
        (lambda: system.reference(torch.randn(2, 3, 28, 28)), "traced on inputs of shape"),
    ]
    for call, says in bad_partition + bad_system:
        with pytest.raises(IllusionError, match=None) as e:
            call()
        assert says in str(e.value) and "\n" not in str(e.value), str(e.value)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""                 # no torch traceback printed on the way


def test_token_ids_are_not_values(user):
    nets = _probe_nets(user)
    ids = torch.randint(0, 100, (4, 12))
    system = il.partition(nets.tagger(), ids[:1], chips=2, capacity="1KiB")
    assert torch.equal(system(ids), system.reference(ids))           # an integer tensor is right here
    with pytest.raises(IllusionError, match="token ids"):
        system(ids.float())


# ---- Ctrl-C (slow: real processes) ----

def _interrupt(args: list[str], after: float, group: bool, cwd) -> tuple[int, str, float]:
    import signal
    import subprocess
    import sys
    import time

    exe = [sys.executable, "-m", "illusion_torch.cli", *args]
    p = subprocess.Popen(exe, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True, env={**os.environ, "PYTHONPATH": str(cwd)})
    time.sleep(after)
    started = time.monotonic()
    if group:
        os.killpg(p.pid, signal.SIGINT)          # a terminal's Ctrl-C reaches every process of the group
    else:
        p.send_signal(signal.SIGINT)
    try:
        _, err = p.communicate(timeout=30)       # generous: the 2 s is measured (README), not asserted
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    took = time.monotonic() - started
    time.sleep(0.5)
    alive = [line for line in os.popen(f"ps -o stat= -g {p.pid}").read().split() if not line.startswith("Z")]
    assert not alive, f"processes left: {alive}"
    return p.returncode, err, took


@slow
@pytest.mark.parametrize("after, group", [(4.0, True), (9.0, False), (14.0, True)])
def test_ctrl_c_ends_a_distributed_run_with_one_line(tmp_path, after, group):
    code, err, took = _interrupt(["run", "--model", "svhn", "--procs", "4", "--out", str(tmp_path / "r")],
                                 after, group, tmp_path)
    if code == 0:
        pytest.skip("the run ended before the interrupt")
    assert code == 130, err
    assert err.strip().splitlines()[-1] == "illusion run: interrupted; nothing written", err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert not (tmp_path / "r").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@slow
def test_ctrl_c_while_the_host_waits_in_process_group_set_up(tmp_path, monkeypatch):
    """A rank that never joins: the host waits inside gloo's set-up, where Python cannot raise."""
    monkeypatch.setenv("ILLUSION_FAULT", "hang-before-join:1")
    code, err, took = _interrupt(["run", "--model", "mnist", "--procs", "3", "--limit", "2", "--out",
                                  str(tmp_path / "r")], 12.0, True, tmp_path)
    assert code == 130 and err.strip().splitlines()[-1] == "illusion run: interrupted; nothing written", err


@slow
@pytest.mark.parametrize("extra", [["--solver", "first-fit", "--limit", "8"], ["--limit", "2"]])
def test_d2nn_under_procs_sends_the_plans_bytes(tmp_path, extra):
    """The gate's flag goes as the plan counts it (one 16-bit word) even when no runtime ran before the ranks'
    wire formats were set (it went as one byte: 1 B per input below the plan)."""
    out = tmp_path / "r.json"
    assert main(["run", "--model", "d2nn", "--chips", "4", *extra, "--procs", "5", "--out", str(tmp_path / "r"),
                 "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["wire_bytes"] == result["plan_wire_bytes"] > 0
