"""Per-chip programs that leave the simulator: ``illusion export`` writes ONNX graphs, memory images and a
manifest; ``run.py`` (numpy and onnxruntime, no torch) runs them bit-identical to the system, passing the plan's
bytes between chips."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import illusion_torch as il
from illusion_torch.cli.jobs import capacity_for, job
from illusion_torch.errors import IllusionError

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


@pytest.fixture(scope="module")
def mnist_export(tmp_path_factory):
    w = job("mnist", limit=64)
    system = il.partition(w.model, w.x[:1], chips=4, capacity=capacity_for(w, 4, None), time_limit_s=5)
    folder = tmp_path_factory.mktemp("export") / "mnist"
    system.export(folder, format="c")                  # = deploy.export(system, folder, c=True)
    if shutil.which("gcc") and shutil.which("make"):
        build = subprocess.run(["make", "-s", "-C", str(folder / "c")], capture_output=True, text=True)
        assert build.returncode == 0, build.stderr
    return w, system, folder


def _run(folder, x, tmp_path, *extra, runner="run.py"):
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "y.npy"
    out.unlink(missing_ok=True)
    run = subprocess.run([sys.executable, str(folder / runner), "--inputs", str(tmp_path / "x.npy"), "--out",
                          str(out), *extra], capture_output=True, text=True)
    return run, (np.load(out) if out.exists() else None)


needs_gcc = pytest.mark.skipif(not (shutil.which("gcc") and shutil.which("make")), reason="needs gcc and make")


@pytest.mark.slow
def test_the_runner_is_bit_identical_to_the_system_and_passes_the_plans_bytes(mnist_export, tmp_path):
    w, system, folder = mnist_export
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["version"] == 1 and len(manifest["chips"]) == system.mapping.n_chips
    assert manifest["plan_bytes_per_inference"] == system.inter_chip_bytes
    assert sum(m["bytes_per_inference"] for m in manifest["messages"]) == system.inter_chip_bytes
    run, y = _run(folder, w.x.numpy(), tmp_path)
    assert run.returncode == 0, run.stderr
    assert np.array_equal(y.astype(np.float64), system(w.x).numpy())
    sent = int(run.stdout.split(" B passed")[0].split()[-1])
    assert sent == system.inter_chip_bytes * len(w.x)
    # the runner imports no torch
    probe = subprocess.run([sys.executable, "-c", f"import sys, runpy; sys.argv=['run.py', '--help']; "
                            f"runpy.run_path({str(folder / 'run.py')!r}, run_name='__main__')"],
                           capture_output=True, text=True)
    assert probe.returncode == 0
    check = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(folder)!r}); import run; "
                            f"run.System({str(folder)!r}); print('torch' in sys.modules)"],
                           capture_output=True, text=True)
    assert check.stdout.strip() == "False", check.stderr


@needs_gcc
def test_the_chips_c_programs_are_bit_identical_and_pass_the_plans_bytes_over_pipes(mnist_export, tmp_path):
    w, system, folder = mnist_export
    run, y = _run(folder, w.x.numpy(), tmp_path, runner="run_c.py")
    assert run.returncode == 0, run.stderr
    assert np.array_equal(y.astype(np.float64), system(w.x).numpy())
    assert int(run.stdout.split(" B passed")[0].split()[-1]) == system.inter_chip_bytes * len(w.x)
    programs = json.loads((folder / "c" / "programs.json").read_text())
    assert sorted(map(int, programs["chips"])) == list(range(system.mapping.n_chips))
    source = "".join(p.read_text() for p in (folder / "c").glob("chip_*.c")) + (folder / "c" / "chip.h").read_text()
    code = re.sub(r"/\*.*?\*/", "", source, flags=re.S)                       # without the comments
    assert not re.search(r"\b(float|double|malloc|calloc|realloc)\b", code)   # integer only, no heap
    check = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(folder)!r}); import run_c; "
                            f"print(any(m in sys.modules for m in ('torch', 'onnxruntime')))"],
                           capture_output=True, text=True)
    assert check.stdout.strip() == "False", check.stderr
    copy = tmp_path / "short-image"                  # a chip given an image of the wrong size: one line
    shutil.copytree(folder, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    image = copy / manifest["chips"][0]["image"]
    image.write_bytes(image.read_bytes()[:-1])
    manifest["chips"][0]["image_bytes"] -= 1
    (copy / "manifest.json").write_text(json.dumps(manifest))
    run, y = _run(copy, w.x.numpy()[:2], tmp_path, runner="run_c.py")
    assert run.returncode == 2 and y is None and "not the size the program was built for" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_a_bit_flipped_in_a_chips_image_changes_the_logits_as_our_stuck_bit_run_does(mnist_export, tmp_path):
    from illusion_torch.runtime import Runtime
    from illusion_torch.wear.faults import FaultyChips

    w, system, folder = mnist_export
    manifest = json.loads((folder / "manifest.json").read_text())
    chip = manifest["chips"][1]
    image = bytearray((folder / chip["image"]).read_bytes())
    faulty = FaultyChips(Runtime(system))
    words = faulty.nvm_words(1) + 4096
    clean = system(w.x).numpy()
    for byte in range(0, len(image), 7):             # the first weight byte whose top bit, flipped, matters
        bit = 7
        was = (image[byte] >> bit) & 1
        and_w, or_w = np.full(words, 0xFFFF, dtype=np.int64), np.zeros(words, dtype=np.int64)
        mask = 1 << (8 * (byte % 2) + bit)
        if was:
            and_w[byte // 2] &= ~mask & 0xFFFF
        else:
            or_w[byte // 2] |= mask
        faulty.set_masks(1, and_w, or_w)
        stuck = faulty.run(w.x).numpy()
        if not np.array_equal(stuck, clean):
            break
    else:
        pytest.fail("no flipped bit of chip 1's weights changes a logit")
    copy = tmp_path / "flipped"
    shutil.copytree(folder, copy)
    image[byte] ^= 1 << bit
    (copy / chip["image"]).write_bytes(bytes(image))
    run, y = _run(copy, w.x.numpy(), tmp_path)
    assert run.returncode == 0, run.stderr
    assert np.array_equal(y.astype(np.float64), stuck)           # the runner computes what the stuck bit does
    if (copy / "c" / "chip_0001").is_file():                     # and so do the C programs, reading the image
        run, y = _run(copy, w.x.numpy(), tmp_path, runner="run_c.py")
        assert run.returncode == 0, run.stderr
        assert np.array_equal(y.astype(np.float64), stuck)


@pytest.mark.slow
def test_bad_folders_and_inputs_are_one_line_each(mnist_export, tmp_path):
    w, _, folder = mnist_export
    copy = tmp_path / "edited"
    shutil.copytree(folder, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["version"] = 99
    (copy / "manifest.json").write_text(json.dumps(manifest))
    run, y = _run(copy, w.x.numpy()[:2], tmp_path)
    assert run.returncode == 2 and y is None and "manifest version 99" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    (copy / "manifest.json").write_text(json.dumps({**manifest, "version": 1}))
    (copy / manifest["chips"][0]["image"]).write_bytes(b"\0")
    run, _ = _run(copy, w.x.numpy()[:2], tmp_path)
    assert run.returncode == 2 and "export the system again" in run.stderr
    run, _ = _run(folder, w.x.numpy()[:2, :, :5], tmp_path)
    assert run.returncode == 2 and "the system takes" in run.stderr
    (tmp_path / "mine.npy").write_bytes(b"a user's file")     # --out mine: np.save would write mine.npy
    run = subprocess.run([sys.executable, str(folder / "run.py"), "--inputs", str(tmp_path / "x.npy"), "--out",
                          str(tmp_path / "mine")], capture_output=True, text=True)
    assert run.returncode == 2 and "mine.npy exists" in run.stderr
    assert (tmp_path / "mine.npy").read_bytes() == b"a user's file"


def test_export_never_replaces_a_folder_it_did_not_write(tmp_path):
    from illusion_torch.deploy import export

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    w = job("mnist", limit=2)
    system = il.partition(w.model, w.x[:1], chips=2, capacity=capacity_for(w, 2, None), time_limit_s=2)
    with pytest.raises(IllusionError, match="an export did not write"):
        export(system, mine)
    assert (mine / "notes.txt").read_text() == "keep me" and sorted(p.name for p in mine.iterdir()) == ["notes.txt"]


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.integers(0, 2),
       st.integers(1, 2), st.integers(4, 9), st.booleans())
def test_a_convolution_as_one_product_per_kernel_tap_equals_conv2d(groups, per_in, per_out, stride, pad, dilation,
                                                                  size, bias):
    import torch
    import torch.nn.functional as F

    from illusion_torch.deploy.lowering import conv2d_by_products

    g = torch.Generator().manual_seed(groups * 100 + size)
    x = torch.randint(-128, 128, (2, groups * per_in, size, size), generator=g).double()
    w = torch.randint(-128, 128, (groups * per_out, per_in, 3, 3), generator=g).double()
    b = torch.randint(-99, 99, (groups * per_out,), generator=g).double() if bias else None
    if size + 2 * pad < 2 * dilation + 1:
        return
    want = F.conv2d(x, w, b, stride, pad, dilation, groups)
    assert torch.equal(conv2d_by_products(x, w, b, stride, pad, dilation, groups), want)


@pytest.mark.slow
def test_residual_adds_are_bounded_sums_and_travel_as_integer_codes():
    from illusion_torch.runtime.precision import layer_bounds, sum_formats

    w = job("resnet", limit=2)
    system = il.partition(w.model, w.x[:1], chips=4, capacity=capacity_for(w, 4, None), time_limit_s=2)
    problems, ratios = layer_bounds(system.chips, system.graph.config.weight_format)
    adds = [n.name for n in system.chips.expanded.graph.nodes if n.name in ratios]
    assert adds and not any("add" in why for why in problems.values())      # y + skip: a sum with a bound
    formats = sum_formats(system.chips, system.graph.config.weight_format, adds)
    assert set(formats) == set(adds)
    for name, fmt in formats.items():            # the bound holds in the format: its codes fit
        assert ratios[name] < 2.0 ** (fmt.wl - 1) and fmt.fl == system.graph.config.weight_format.fl + 8


@pytest.mark.slow
def test_importing_the_package_does_not_import_onnx():
    check = subprocess.run([sys.executable, "-c", "import sys, illusion_torch, illusion_torch.deploy; "
                            "print(any(m in sys.modules for m in ('onnx', 'onnxruntime', 'onnxscript')))"],
                           capture_output=True, text=True)
    assert check.stdout.strip() == "False", check.stderr


@pytest.mark.slow
def test_the_gated_model_runs_every_wake_and_counts_a_branchs_messages_only_when_its_route_takes_it(tmp_path):
    """D2NN: its fully connected wakes run in float64 (float32 is not proven exact for them), its convolutions
    in float32 (proven); a branch's messages count only for the inputs routed there — the plan's bytes."""
    from illusion_torch.deploy import export
    from illusion_torch.distributed.launch import expected_wire_bytes, rank_map_for
    from illusion_torch.runtime import Runtime

    w = job("d2nn", limit=48)
    system = il.partition(w.model, w.x[:1], chips=8, capacity=capacity_for(w, 8, None), time_limit_s=5)
    export(system, tmp_path / "d2nn", c=True)
    manifest = json.loads((tmp_path / "d2nn" / "manifest.json").read_text())
    assert manifest["gated"] and {s["dtype"] for s in manifest["steps"] if s["op"] == "wake"} == {"float32",
                                                                                                 "float64"}
    run, y = _run(tmp_path / "d2nn", w.x.numpy(), tmp_path)
    assert run.returncode == 0, run.stderr
    assert np.array_equal(y.astype(np.float64), system(w.x).numpy())
    runtime = Runtime(system)
    result = runtime.run(w.x)
    runs = {int(r): int((result.routes == r).sum()) for r in result.routes.unique()}
    plan = expected_wire_bytes(runtime.profile, rank_map_for(system, system.mapping.n_chips + 1), runs)
    assert int(run.stdout.split(" B passed")[0].split()[-1]) == plan
    assert len(runs) == 2                                      # both routes taken among these inputs
    if shutil.which("gcc") and shutil.which("make"):           # the C programs route the same way
        assert subprocess.run(["make", "-s", "-C", str(tmp_path / "d2nn" / "c")]).returncode == 0
        run, y = _run(tmp_path / "d2nn", w.x.numpy(), tmp_path, runner="run_c.py")
        assert run.returncode == 0, run.stderr
        assert np.array_equal(y.astype(np.float64), system(w.x).numpy())
        assert int(run.stdout.split(" B passed")[0].split()[-1]) == plan


@pytest.mark.slow
def test_the_residual_network_runs_exactly_with_float64_convolutions_as_products(tmp_path):
    """ResNet-style: 16-bit activations, so float32 is not proven exact; its convolutions run in float64 as one
    matrix product per kernel tap, its residual sums travel as integer codes: bit-identical, bytes = plan."""
    from illusion_torch.deploy import export

    w = job("resnet", limit=16)
    system = il.partition(w.model, w.x[:1], chips=4, capacity=capacity_for(w, 4, None), time_limit_s=5)
    export(system, tmp_path / "resnet")
    manifest = json.loads((tmp_path / "resnet" / "manifest.json").read_text())
    assert "float64" in {s["dtype"] for s in manifest["steps"] if s["op"] == "wake"}
    run, y = _run(tmp_path / "resnet", w.x.numpy(), tmp_path)
    assert run.returncode == 0, run.stderr
    assert np.array_equal(y.astype(np.float64), system(w.x).numpy())
    assert int(run.stdout.split(" B passed")[0].split()[-1]) == system.inter_chip_bytes * len(w.x)


@pytest.mark.slow
def test_an_exact_gelu_that_must_run_in_float64_is_refused_in_one_line(tmp_path):
    from illusion_torch.deploy import export

    w = job("gpt", limit=2)
    system = il.partition(w.model, w.x[:1], chips=4, capacity=capacity_for(w, 4, None), time_limit_s=5)
    with pytest.raises(IllusionError, match="no float64 kernel") as refused:
        export(system, tmp_path / "gpt")
    assert "\n" not in str(refused.value) and not (tmp_path / "gpt").exists()


@pytest.mark.slow
def test_illusion_export_from_the_cli_writes_a_folder_the_runner_runs(tmp_path):
    out = tmp_path / "svhn-export"
    run = subprocess.run([sys.executable, "-m", "illusion_torch.cli", "export", "--model", "svhn", "--chips", "4",
                          "--time-limit", "5", "--out", str(out)], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "run it without torch" in run.stdout and "[torch.onnx]" not in run.stdout
    w = job("svhn", limit=8)
    ran, y = _run(out, w.x.numpy(), tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert y.shape == (8, 10)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "data.csv").write_text("1,2\n")
    again = subprocess.run([sys.executable, "-m", "illusion_torch.cli", "export", "--model", "svhn", "--chips", "4",
                            "--time-limit", "5", "--out", str(theirs)], capture_output=True, text=True,
                           cwd=tmp_path)
    assert again.returncode == 2 and "an export did not write" in again.stderr
    assert (theirs / "data.csv").read_text() == "1,2\n"
    assert len(again.stderr.strip().splitlines()) == 1


@pytest.mark.slow
@needs_gcc
def test_illusion_export_c_from_the_cli_builds_and_runs_one_process_per_chip(tmp_path):
    out = tmp_path / "mnist-c"
    run = subprocess.run([sys.executable, "-m", "illusion_torch.cli", "export", "--model", "mnist", "--chips", "4",
                          "--time-limit", "5", "--out", str(out), "--c"], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "make -C" in run.stdout and (out / "c" / "Makefile").is_file()
    assert subprocess.run(["make", "-s", "-C", str(out / "c")], capture_output=True).returncode == 0
    w = job("mnist", limit=16)
    ran, y = _run(out, w.x.numpy(), tmp_path, runner="run_c.py")
    ours, z = _run(out, w.x.numpy(), tmp_path)
    assert ran.returncode == 0 and ours.returncode == 0, ran.stderr + ours.stderr
    assert np.array_equal(y.astype(np.float64), z.astype(np.float64))   # C and onnxruntime agree bit for bit
