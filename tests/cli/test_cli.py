import json

import pytest

from illusion_torch.cli import main

pytestmark = pytest.mark.slow        # shipped checkpoints, datasets or calibration


def test_run_partitions_mnist_runs_it_chip_by_chip_and_prices_it(tmp_path, capsys):
    out_dir = tmp_path / "report"
    assert main(["run", "--limit", "300", "--out", str(out_dir), "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "mnist on 8 chips × 512 B: accuracy" in out and "300 mnist test samples" in out
    assert "Illusion / ideal" in out
    result = json.loads((tmp_path / "r.json").read_text())
    keys = {"model", "chips", "capacity_bytes", "preset", "samples", "accuracy", "reference_accuracy", "mismatches",
            "inter_chip_bytes", "energy_j", "time_s", "ideal", "energy_ratio", "time_ratio", "edp_ratio", "per_chip"}
    assert keys <= set(result)
    assert result["samples"] == 300 and result["chips"] == 8 and result["capacity_bytes"] == 512
    assert result["preset"] == "paper-testchip"
    assert result["mismatches"] == 0 and result["accuracy"] == result["reference_accuracy"] > 0.9
    assert result["inter_chip_bytes"] == 1248
    assert [c["wakeups"] for c in result["per_chip"]] == [1] * 8
    assert sum(c["weight_bytes"] for c in result["per_chip"]) == 3648
    assert result["energy_j"] == sum(c["energy_j"] for c in result["per_chip"])
    assert 1.0 < result["time_ratio"] < result["energy_ratio"] < 1.035
    assert json.loads((out_dir / "report.json").read_text())["energy_ratio"] == result["energy_ratio"]
    for picture in ("power_timeline.png", "energy_breakdown.png", "mapping.png"):
        assert (out_dir / picture).stat().st_size > 1000


def test_run_other_workloads_presets_and_bad_input(tmp_path, capsys):
    args = ["run", "--model", "kws", "--limit", "40", "--preset", "accelerator-28nm", "--out", str(tmp_path / "k"),
            "--json", str(tmp_path / "k.json")]
    assert main(args) == 0
    result = json.loads((tmp_path / "k.json").read_text())
    assert result["capacity_bytes"] == 4096                  # the paper's KWS capacity on 8 chips
    assert result["mismatches"] == 0 and result["synthetic"] is True and result["preset"] == "accelerator-28nm"
    assert [c["wakeups"] for c in result["per_chip"]] == [40] * 8      # every chip wakes every LSTM step
    capsys.readouterr()
    for bad, says in ((["--limit", "0"], "--limit"), (["--preset", "tpu"], "invalid choice: 'tpu'"),
                      (["--chips", "2", "--capacity", "512B"], "at least 8 chips")):
        assert main(["run", *bad]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and says in err[0]


def test_eval_reports_a_checkpoint(capsys):
    assert main(["eval", "mnist", "--limit", "200"]) == 0
    assert "mnist: fixed-point accuracy" in capsys.readouterr().out


def test_unknown_model_is_one_clear_line(capsys):
    assert main(["eval", "lenet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no shipped checkpoint 'lenet'" in err[0] and "illusion train" not in err[0]


def test_unknown_training_recipe(capsys):
    assert main(["train", "lenet"]) == 2
    assert "valid names:" in capsys.readouterr().err


def test_models_lists_registry(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "mnist" in out and "trained checkpoint" in out and "resnet50" in out


def test_partition_prints_table_and_writes_json_and_plot(tmp_path, capsys):
    out = tmp_path / "m.json"
    assert main(["partition", "--model", "mnist", "--chips", "8", "--capacity", "512B", "--json", str(out),
                 "--plot", str(tmp_path / "m.png")]) == 0
    printed = capsys.readouterr().out
    assert "1,248 B between chips" in printed and "conv4[out" in printed
    result = json.loads(out.read_text())
    keys = {"chips", "capacity_bytes", "inter_chip_bytes", "solver", "optimal", "gap", "solve_s", "per_chip"}
    assert keys <= set(result)
    assert result["inter_chip_bytes"] == 1248 and result["optimal"] is True and result["capacity_bytes"] == 512
    assert sum(c["weight_bytes"] for c in result["per_chip"]) == 3648
    assert (tmp_path / "m.png").stat().st_size > 1000


def test_partition_accepts_torchvision_and_paper_models(capsys):
    assert main(["partition", "--model", "paper-alexnet", "--capacity", "16MiB", "--solver", "first-fit"]) == 0
    assert "8 chips" in capsys.readouterr().out


def test_partition_bad_input_is_one_line(capsys):
    assert main(["partition", "--model", "mnist", "--chips", "2", "--capacity", "512B"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "at least 8 chips" in err[0]
    assert main(["partition", "--model", "mnist", "--capacity", "5 parsecs"]) == 2
    assert "malformed size" in capsys.readouterr().err


def test_run_an_untrained_torchvision_model_on_the_accelerator(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["run", "--model", "resnet18", "--capacity", "4MiB", "--max-chips", "12", "--solver", "first-fit",
                 "--preset", "accelerator-28nm", "--limit", "1", "--out", str(tmp_path / "r"),
                 "--json", str(out)]) == 0
    assert "SYNTHETIC random inputs" in capsys.readouterr().out
    r = json.loads(out.read_text())
    assert r["accuracy"] is None and r["synthetic"] is True and r["mismatches"] == 0 and r["max_abs_diff"] < 1e-9
    assert r["chips"] >= 6 and r["energy_ratio"] > 1 and r["dram_vs_ideal"]["time"] > 1


def test_run_and_partition_read_a_capacity_alone_the_same_way(tmp_path, capsys, monkeypatch):
    """--capacity without --chips: the fewest chips that fit it, for run as for partition (run used to take 8
    and refuse: "too few chips"); without either, run keeps the paper's 8. Each command names its stages on
stderr; none with --quiet."""
    from illusion_torch.cli import arguments

    monkeypatch.setattr(arguments, "STAGE_AFTER_S", 0.0)          # every stage names itself at once
    assert main(["partition", "--model", "mnist", "--capacity", "1KiB", "--json", str(tmp_path / "p.json")]) == 0
    counted = json.loads((tmp_path / "p.json").read_text())["chips"]
    assert "[partition] tracing and mapping onto the fewest chips of 1,024 B (bilp" in capsys.readouterr().err
    assert main(["run", "--model", "mnist", "--capacity", "1KiB", "--limit", "20", "--quiet", "--out",
                 str(tmp_path / "r"), "--json", str(tmp_path / "r.json")]) == 0
    assert counted == 4 and json.loads((tmp_path / "r.json").read_text())["chips"] == counted
    assert capsys.readouterr().err == ""                  # --quiet: no stage lines
    assert main(["run", "--model", "mnist", "--limit", "20", "--out", str(tmp_path / "d"), "--json",
                 str(tmp_path / "d.json")]) == 0
    assert json.loads((tmp_path / "d.json").read_text())["chips"] == 8
    assert "[run] mapping onto 8 chips of 512 B" in capsys.readouterr().err
    assert main(["lifetime", "--model", "svhn", "--capacity", "8KiB", "--years", "0.01", "--limit", "20", "--json",
                 str(tmp_path / "l.json")]) == 0                     # lifetime too: 31,160 B fit 4 chips of 8 KiB
    assert json.loads((tmp_path / "l.json").read_text())["chips"] == 4
    err = capsys.readouterr().err
    assert "[lifetime] mapping onto the fewest chips of 8,192 B" in err
    assert "[lifetime] 0.01 years of wear on 4 chips (distributed-endurer, ours scenario)" in err
    assert main(["partition", "--model", "mnist", "--capacity", "1KiB", "--quiet"]) == 0
    assert capsys.readouterr().err == ""
