"""The Voxtral-layout stand-in from real parts: a pretrained Llama (here a tiny one written as GGUF and converted, as
`sla convert-lm` converts SmolLM2) as the text model, built through `from_backbone` like every stand-in; and the
alignment stage that trains its projector on speech-to-text (cached, WER before and after)."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, VoxtralForConditionalGeneration

from modeling_sla import SLAForSessionScoring
from processing_sla import SLAProcessor
from sla_phi4.testing.sessions import make_session
from sla_phi4.testing.stand_ins import language_model_folder
from sla_phi4.testing.stand_ins.voxtral_language_model import ADDED_TOKENS
from sla_phi4.testing.tiny_checkpoint import build_tiny_checkpoint
from sla_phi4.training import alignment
from sla_phi4.training.alignment import AlignmentError, AlignmentSettings, align_backbone, install_projector


pytest.importorskip("gguf")


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    from sla_phi4.conversion.gguf_lm import convert_gguf_lm
    from sla_phi4.testing.tiny_gguf import write_tiny_gguf

    folder = tmp_path_factory.mktemp("tiny-lm")
    write_tiny_gguf(folder / "tiny.gguf")
    return convert_gguf_lm(folder / "tiny.gguf", folder / "hf")


@pytest.fixture(scope="module")
def lm_checkpoint(tiny_lm, tmp_path_factory):
    folder = tmp_path_factory.mktemp("voxtral-lm")
    return build_tiny_checkpoint(str(folder), backbone="voxtral", audio_tower="random", language_model=str(tiny_lm))


def test_the_language_model_is_the_pretrained_one_with_voxtral_tokens(tiny_lm, lm_checkpoint):
    pretrained = AutoModelForCausalLM.from_pretrained(tiny_lm)
    model = SLAForSessionScoring.from_pretrained(lm_checkpoint).eval()
    language = model.backbone.language_model
    rows = pretrained.config.vocab_size
    assert language.config.vocab_size == rows + len(ADDED_TOKENS)
    assert torch.equal(language.embed_tokens.weight[:rows], pretrained.model.embed_tokens.weight)
    assert torch.allclose(language.embed_tokens.weight[rows:],
                          pretrained.model.embed_tokens.weight.mean(0).expand(len(ADDED_TOKENS), -1))
    layer, original = language.layers[1], pretrained.model.layers[1]
    assert torch.equal(layer.mlp.down_proj.base_layer.weight, original.mlp.down_proj.weight)  # under LoRA
    processor = SLAProcessor.from_pretrained(lm_checkpoint)
    tokens = processor.tokenizer.convert_tokens_to_ids(list(ADDED_TOKENS))
    assert min(tokens) >= rows and len(set(tokens)) == len(ADDED_TOKENS)
    inputs = processor(make_session("lm-1", [("P1", 2.0), ("P3", 3.0)], seed=3))
    assert (inputs["input_ids"] == model.config.audio_llm_config.audio_token_id).sum() > 0
    with torch.no_grad():
        scores = model(**inputs).scores
    assert scores.shape == (1, len(model.config.score_names)) and torch.isfinite(scores).all()


def test_only_voxtral_takes_a_language_model_and_choices_are_named(tiny_lm, tmp_path):
    with pytest.raises(ValueError, match="voxtral stand-in only, not phi4"):
        build_tiny_checkpoint(str(tmp_path / "phi4"), backbone="phi4", language_model=str(tiny_lm))
    with pytest.raises(ValueError, match=r"--language-model 'gpt-9' is neither \['random', 'smollm2-135m'\]"):
        language_model_folder("gpt-9")
    assert language_model_folder("random") is None
    with pytest.raises(ValueError, match="needs a pretrained language model"):
        build_tiny_checkpoint(str(tmp_path / "random"), backbone="voxtral", audio_tower="random",
                              align=AlignmentSettings.smoke())


def test_alignment_trains_the_projector_only_is_cached_and_installs(lm_checkpoint, tmp_path, monkeypatch):
    backbone_dir = str(tmp_path / "voxtral")  # a standalone backbone: a built checkpoint's part is refused (below)
    shutil.copytree(f"{lm_checkpoint}/parts/voxtral", backbone_dir)
    before = VoxtralForConditionalGeneration.from_pretrained(backbone_dir).state_dict()
    result = align_backbone(backbone_dir, AlignmentSettings.smoke(), cache_root=tmp_path / "cache")
    summary = result.summary
    assert summary["wer_before"] >= 0 and summary["wer_after"] >= 0
    assert summary["train_clips"] == 8 and summary["eval_clips"] == 3 and len(summary["train_losses"]) == 1
    assert {example["voice"] for example in summary["examples_after"]} <= {"ar", "hi", "cmn"}  # held-out voices
    assert json.loads((result.folder / "alignment.json").read_text()) == summary
    monkeypatch.setattr(alignment, "run_alignment", lambda *args: pytest.fail("the cache was not used"))
    again = align_backbone(backbone_dir, AlignmentSettings.smoke(), cache_root=tmp_path / "cache")
    assert again.folder == result.folder
    install_projector(backbone_dir, result)
    after = VoxtralForConditionalGeneration.from_pretrained(backbone_dir).state_dict()
    projector = load_file(str(result.projector_file))
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed == {f"model.multi_modal_projector.{name}" for name in projector}
    assert all(torch.equal(after[f"model.multi_modal_projector.{name}"], value) for name, value in projector.items())


def test_alignment_refuses_what_it_cannot_align(tmp_path, tiny_checkpoint):
    with pytest.raises(AlignmentError, match=f"{tiny_checkpoint}/parts/phi4-multimodal: not a Voxtral-layout"):
        align_backbone(tiny_checkpoint / "parts" / "phi4-multimodal", AlignmentSettings.smoke(), cache_root=tmp_path)
    with pytest.raises(ValueError, match="overlap the training voices"):
        AlignmentSettings(train_voices=["es", "ar"], eval_voices=["ar"])
    sentences = AlignmentSettings(train_sentences=50, eval_sentences=20)
    from sla_phi4.data.synthetic.pools import pool_sentences
    from sla_phi4.training.alignment import split_sentences

    train, held_out = split_sentences(sentences)
    assert len(train) == 50 and len(held_out) == 20 and not set(train) & set(held_out)
    assert set(train + held_out) <= set(pool_sentences())  # what learners say, never a question's text


def test_align_command_names_a_folder_it_cannot_align(tmp_path, capsys):
    from sla_phi4.cli import main as sla

    assert sla(["align", "--backbone", str(tmp_path), "--epochs", "1"]) == 2
    error = capsys.readouterr().err
    assert f"{tmp_path}: not a Voxtral-layout backbone folder" in error and "Traceback" not in error


def test_a_built_checkpoint_is_aligned_when_built_not_through_its_part(lm_checkpoint, monkeypatch, capsys):
    """The checkpoint's own weights hold the projector: installing into its `parts/voxtral` would leave the model a
    user loads unaligned, so it is refused, and the checkpoint folder itself is named as what it is."""
    from sla_phi4.cli import main as sla

    part = f"{lm_checkpoint}/parts/voxtral"
    with pytest.raises(AlignmentError, match="the backbone part of the session checkpoint .*--align"):
        install_projector(part, result=None)
    monkeypatch.setattr(alignment, "align_backbone", lambda *args: pytest.fail("refused only after aligning"))
    assert sla(["align", "--backbone", part, "--install"]) == 2
    assert "the backbone part of the session checkpoint" in capsys.readouterr().err
    monkeypatch.undo()
    assert sla(["align", "--backbone", str(lm_checkpoint), "--epochs", "1"]) == 2
    error = capsys.readouterr().err
    assert f"{lm_checkpoint}: a session checkpoint, not a backbone: its backbone is {part}" in error
    assert "Traceback" not in error


def test_build_tiny_align_flag_aligns_with_the_defaults_and_needs_a_language_model(monkeypatch, tmp_path, capsys):
    from sla_phi4.cli import main as sla
    from sla_phi4.testing import tiny_checkpoint

    calls = []

    def record_and_stop(output, **kwargs):  # the build itself is tested above
        calls.append(kwargs)
        raise ValueError("recorded")

    monkeypatch.setattr(tiny_checkpoint, "build_tiny_checkpoint", record_and_stop)
    assert sla(["build-tiny", "--output", str(tmp_path / "x"), "--backbone", "voxtral", "--language-model", "lm",
                "--align"]) == 2
    assert calls[0]["align"] == AlignmentSettings() and calls[0]["language_model"] == "lm"
    assert sla(["build-tiny", "--output", str(tmp_path / "y"), "--backbone", "voxtral"]) == 2
    assert calls[1]["align"] is None
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        sla(["build-tiny", "--output", str(tmp_path / "z"), "--backbone", "voxtral", "--align"])
    assert exit_info.value.code == 2 and len(calls) == 2
    assert "--align needs a pretrained --language-model" in capsys.readouterr().err


def test_a_checkpoint_built_aligned_holds_the_aligned_projector_in_its_own_weights(tiny_lm, tmp_path, monkeypatch):
    from pathlib import Path

    from sla_phi4.training.alignment import AlignmentResult

    monkeypatch.setenv("SLA_CACHE_DIR", str(tmp_path / "cache"))
    output = build_tiny_checkpoint(str(tmp_path / "aligned"), backbone="voxtral", audio_tower="random",
                                   language_model=str(tiny_lm), align=AlignmentSettings.smoke())
    summary = json.loads((tmp_path / "aligned" / "parts" / "alignment.json").read_text())
    aligned = load_file(str(AlignmentResult(Path(summary["cache_folder"]), summary).projector_file))
    model = SLAForSessionScoring.from_pretrained(output)
    projector = model.backbone.multi_modal_projector
    assert aligned and all(torch.equal(projector.get_parameter(name), value) for name, value in aligned.items())
