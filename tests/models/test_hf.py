"""Hugging Face transformers models — GPT-2, BERT, Llama (grouped-query attention, rotary embeddings, SwiGLU, RMS
norm, tied LM head) and ViT, small random-init configs — captured by torch.export and exact on chips."""

import subprocess
import sys

import pytest
import torch

import illusion_torch as il
from illusion_torch import partitioning
from illusion_torch.fixed.quantized import fixed_point_version
from illusion_torch.models.hf import HFModel, load_hf

transformers = pytest.importorskip("transformers")
slow = pytest.mark.slow


def _configs():
    T = transformers
    return {
        "gpt2": (T.GPT2Config(n_embd=64, n_layer=2, n_head=4, vocab_size=1000, n_positions=64, bos_token_id=0,
                              eos_token_id=0, architectures=["GPT2LMHeadModel"]), (16,)),
        "bert": (T.BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                              vocab_size=1000, max_position_embeddings=64, architectures=["BertModel"]), (16,)),
        "llama": (T.LlamaConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                intermediate_size=128, vocab_size=1000, max_position_embeddings=64,
                                tie_word_embeddings=True, bos_token_id=0, eos_token_id=0,
                                architectures=["LlamaForCausalLM"]), (16,)),
        "vit": (T.ViTConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                            image_size=32, patch_size=8, num_labels=10,
                            architectures=["ViTForImageClassification"]), (3, 32, 32)),
    }


def _model(name):
    config, shape = _configs()[name]
    torch.manual_seed(0)
    hf = getattr(transformers, config.architectures[0])(config)
    model = HFModel(hf, name).eval()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(3, *shape, generator=gen) if len(shape) == 3 else torch.randint(1, 1000, (3, *shape),
                                                                                        generator=gen)
    return model, x


def _capacity(model, x, chips):
    return -(-partitioning.trace(model, x).weight_bytes * 5 // (4 * chips))


def _check(name, chips):
    model, x = _model(name)
    system = il.partition(model, x[:1], chips=chips, capacity=_capacity(model, x[:1], chips), time_limit_s=2)
    assert system.graph.capture == "torch.export"
    assert system.mapping.n_chips > chips // 2
    # every parameter the forward reads is placed, tied ones once (BERT's pooler feeds only its second output)
    assert system.placed_bytes + system.unused_bytes == system.params_bytes
    assert system.unused_bytes == (0 if name != "bert" else (64 * 64 + 64) * 2)
    out = system(x)
    with torch.no_grad():
        ref = model.double()(x.double() if x.is_floating_point() else x)   # the user's model itself
    model.float()
    assert out.dtype == torch.float64
    assert ((out - ref).abs().max() / ref.abs().max()).item() <= 1e-12


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gpt2", "bert", "llama", "vit"])
def test_hf_model_exact_on_16_chips(name):
    _check(name, 16)


@slow
@pytest.mark.parametrize("chips", [64, 256])
@pytest.mark.parametrize("name", ["gpt2", "bert", "llama", "vit"])
def test_hf_model_exact_on_many_chips(name, chips):
    _check(name, chips)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["llama", "gpt2"])
def test_hf_fixed_point_version_bit_identical_chip_by_chip(name):
    model, x = _model(name)
    fixed = fixed_point_version(model, x[:1])
    system = il.partition(fixed, x[:1], chips=16, capacity=_capacity(fixed, x[:1], 16), time_limit_s=2)
    assert torch.equal(system(x), system.reference(x))


@pytest.mark.slow
def test_llama_lifted_as_grouped_query_attention_with_its_own_layers():
    model, x = _model("llama")
    g = partitioning.trace(model, x[:1])
    names = {ly.target for ly in g.layers}
    assert {"hf.model.layers.0.self_attn.q_proj", "hf.model.layers.0.self_attn.k_proj",
            "hf.model.layers.0.mlp.gate_proj", "hf.model.embed_tokens"} <= names
    k = g.layer("hf_model_layers_0_self_attn_k_proj")
    q = g.layer("hf_model_layers_0_self_attn_q_proj")
    assert k.out_units * 2 == q.out_units                    # 2 k/v heads shared by 4 q heads
    targets = [str(n.target) for n in g.gm.graph.nodes]
    assert not any("scaled_dot_product_attention" in t for t in targets)
    assert sum("matmul" in t for t in targets) >= 4          # q·kᵀ and ·v in each of 2 layers


@pytest.mark.slow
def test_hf_folder_from_the_cli(tmp_path):
    config, _ = _configs()["llama"]
    config.save_pretrained(tmp_path / "tiny-llama")
    run = subprocess.run([sys.executable, "-m", "illusion_torch.cli", "partition", "--model",
                          f"hf:{tmp_path / 'tiny-llama'}", "--chips", "16", "--time-limit", "2"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    first = run.stdout.splitlines()[0]
    assert "tiny-llama (captured by torch.export)" in first
    missing = subprocess.run([sys.executable, "-m", "illusion_torch.cli", "partition", "--model",
                              f"hf:{tmp_path / 'nowhere'}"], capture_output=True, text=True, cwd=tmp_path)
    assert missing.returncode == 2 and "no config.json there" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


def test_load_hf_reads_a_saved_model_with_its_weights(tmp_path):
    model, x = _model("bert")
    model.hf.save_pretrained(tmp_path / "bert")
    again = load_hf(tmp_path / "bert")
    with torch.no_grad():
        assert torch.equal(again(x), model(x))
    assert again.config.vocab_size == 1000 and again.config.input_shape == (16,)


@pytest.mark.slow
def test_a_float64_transformers_model_with_its_kv_cache_on_is_captured_and_left_as_it_was():
    config = transformers.GPT2Config(n_embd=32, n_layer=1, n_head=2, vocab_size=100, n_positions=32,
                                     bos_token_id=0, eos_token_id=0)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config).double().eval()
    assert model.config.use_cache
    x = torch.randint(0, 100, (2, 8))
    system = il.partition(model, x[:1], chips=3, capacity=_capacity(model, x[:1], 3), time_limit_s=3)
    assert system.graph.capture == "torch.export" and model.config.use_cache      # the user's config untouched
    with torch.no_grad():
        assert ((system(x) - model(x).logits).abs().max() / model(x).logits.abs().max()) <= 1e-12


@pytest.mark.slow
def test_token_sequences_of_any_length_in_process_and_on_ranks():
    """A transformers encoder is captured for token sequences of any length: in process and with its chips as
    processes (the length changing from message to message) it is bit-identical to the unpartitioned
    fixed-point model, and the bytes between chip ranks are the message plan's at each length."""
    from illusion_torch.distributed import run_distributed
    from illusion_torch.errors import IllusionError

    model, x = _model("bert")
    fixed = fixed_point_version(model, x[:1])
    system = il.partition(fixed, x[:1], chips=4, capacity=_capacity(fixed, x[:1], 4), solver="first-fit")
    assert system.graph.gm.meta["free_dims"] == (1,)
    gen = torch.Generator().manual_seed(5)
    xs = [torch.randint(1, 1000, (2, n), generator=gen) for n in (16, 5, 31)]
    refs = [system.reference(xi) for xi in xs]
    assert [ref.shape[1] for ref in refs] == [16, 5, 31]
    assert all(torch.equal(system(xi), ref) for xi, ref in zip(xs, refs, strict=True))
    r = run_distributed(system, xs, procs=system.mapping.n_chips + 1, batch=2)
    assert all(torch.equal(a, b) for a, b in zip(r.logits, refs, strict=True))
    assert r.lengths == {5: 2, 16: 2, 31: 2}
    assert r.wire_bytes == r.expected_wire_bytes > 0
    with pytest.raises(IllusionError, match=r"traced on inputs of shape \(N, L\)"):
        system(torch.ones(2, 4, 3, dtype=torch.long))


@pytest.mark.slow
def test_a_tied_lm_head_runs_on_its_tables_chips_and_is_stored_once():
    """Llama's LM head is its token embedding's table: the head's slices run on the chips holding the table's
    rows, with those very rows (one region per chip), so the chips' memory holds the table once."""
    from illusion_torch.runtime import Runtime

    model, x = _model("llama")
    system = il.partition(model, x[:1], chips=16, capacity=_capacity(model, x[:1], 16), time_limit_s=2)
    head = next(ly for ly in system.graph.layers if ly.tied)
    assert head.name == "hf_lm_head" and head.tied == "hf_model_embed_tokens" and head.weight_bytes == 0
    rows = [(c, p.start, p.stop) for c, p in system.mapping.pieces_of(head.tied)]
    assert [(c, p.start, p.stop) for c, p in system.mapping.pieces_of(head.name)] == rows and len(rows) > 1
    runtime = Runtime(system)
    stored = sum(r.nbytes for img in runtime.images for r in img.regions if r.kind.value == "weight")
    table = 1000 * 64 * 2
    assert stored == sum(system.mapping.chip_weight_bytes())
    assert system.placed_bytes <= stored < system.placed_bytes + table      # parameters once (and a buffer)
    assert torch.equal(runtime.run(x).logits, system(x))
    with torch.no_grad():
        ref = model.double()(x)
    model.float()
    assert ((system(x) - ref).abs().max() / ref.abs().max()).item() <= 1e-12


@pytest.mark.slow
def test_a_pretrained_language_model_folder_with_its_tokenizer_runs_on_real_text_with_its_perplexity(tmp_path):
    """``illusion run --model hf:DIR`` on a causal LM folder with weights and a tokenizer: the held-out State of
    the Union text in windows of the folder's own tokens, and the chips' perplexity beside the model's."""
    import json

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from illusion_torch.data.sentences import sentences

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(sentences("train")[:500], trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<unk>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>")
    folder = tmp_path / "tiny-gpt2"
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(transformers.GPT2Config(
        n_embd=32, n_layer=1, n_head=2, vocab_size=len(fast), n_positions=32, bos_token_id=0,
        eos_token_id=0)).save_pretrained(folder)
    run = subprocess.run([sys.executable, "-m", "illusion_torch.cli", "run", "--model", f"hf:{folder}", "--chips",
                          "4", "--input-shape", "16", "--limit", "3", "--time-limit", "2", "--out",
                          str(tmp_path / "run")], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "perplexity" in run.stdout and "3 real State of the Union" in run.stdout
    meta = json.loads((tmp_path / "run" / "report.json").read_text())
    metric = meta["meta"]["metric"] if "meta" in meta else meta["metric"]
    assert metric["name"] == "perplexity" and metric["samples"] == 3
    assert abs(metric["value"] - metric["float_value"]) <= 1e-6 * metric["float_value"]
    assert meta.get("synthetic", meta.get("meta", {}).get("synthetic")) is False


@pytest.mark.slow
def test_a_tied_head_on_the_same_chip_and_wake_as_its_table_computes_in_float64():
    """One chip holds everything: the table's lookup and the head share one wake and one parameter; the float64
    run casts it for the head (a lookup alone is left uncast) and stays exact."""
    from illusion_torch.runtime import Runtime

    model, x = _model("llama")
    system = il.partition(model, x[:1], chips=1, capacity=10**7, time_limit_s=2)
    assert system.mapping.n_chips == 1
    out = system(x)
    with torch.no_grad():
        ref = model.double()(x)
    model.float()
    assert ((out - ref).abs().max() / ref.abs().max()).item() <= 1e-12
    assert torch.equal(Runtime(system).run(x).logits, out)
