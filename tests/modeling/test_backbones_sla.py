"""Voxtral and Qwen2-Audio as backbones, beside Phi-4-multimodal: the real repos' layout, exact clip encoding,
LoRA on the language layers only, remote code, the pipeline, and training both stages with resume."""

import json
import math
import os
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from peft.tuners.lora import LoraLayer
from safetensors.torch import load_file
from transformers import AutoConfig, AutoTokenizer

from modeling_sla import BACKBONE_ADAPTERS, SLAForSessionScoring
from modeling_sla.pipeline_sla import save_pretrained_with_pipeline
from processing_sla import SPEECH_PROMPTS, SLAProcessor, speech_prompt
from sla_phi4.testing import make_session, run_isolated, write_file_session
from sla_phi4.training import DataArguments, ModelArguments, SLATrainingArguments, train


FAMILIES = ("voxtral", "qwen2-audio")
# Files of the real Hub repos that a transformers user loads (the Mistral-native consolidated.safetensors and
# params.json of Voxtral, and the sharded weights' index, are not needed at this size).
REAL_LAYOUT = {
    "voxtral": {"config.json", "generation_config.json", "model.safetensors", "preprocessor_config.json",
                "tekken.json"},
    "qwen2-audio": {"config.json", "generation_config.json", "model.safetensors", "preprocessor_config.json",
                    "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"},
}
TOKENS_PER_WINDOW = {"voxtral": 375, "qwen2-audio": 750}


def parts_folder(checkpoint: Path, backbone: str) -> Path:
    return checkpoint / "parts" / backbone


def test_every_family_has_an_adapter_and_a_speech_prompt():
    assert set(BACKBONE_ADAPTERS) == set(SPEECH_PROMPTS) == {"phi4_multimodal", "voxtral", "qwen2_audio"}


@pytest.mark.parametrize("backbone", FAMILIES)
def test_stand_in_has_the_real_repo_layout_and_builds_through_from_backbone(family_checkpoints, backbone):
    checkpoint = family_checkpoints(backbone)
    folder = parts_folder(checkpoint, backbone)
    assert REAL_LAYOUT[backbone] <= {path.name for path in folder.iterdir()}
    preprocessor = json.loads((folder / "preprocessor_config.json").read_text())
    assert preprocessor["feature_extractor_type"] == "WhisperFeatureExtractor" and "processor_class" in preprocessor
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["audio_llm_config"]["model_type"] == backbone.replace("-", "_")
    model = SLAForSessionScoring.from_pretrained(checkpoint)
    assert type(model.backbone).__name__ == {"voxtral": "VoxtralModel", "qwen2-audio": "Qwen2AudioModel"}[backbone]


@pytest.mark.parametrize("backbone", FAMILIES)
def test_lora_wraps_the_language_layers_only(family_checkpoints, backbone):
    model = SLAForSessionScoring.from_pretrained(family_checkpoints(backbone))
    wrapped = [name for name, module in model.backbone.named_modules() if isinstance(module, LoraLayer)]
    layers = model.family.text_config(model.config.audio_llm_config).num_hidden_layers
    assert len(wrapped) == layers * 7  # q, k, v, o, gate, up, down
    assert all(name.startswith("language_model.layers.") for name in wrapped)
    tower_linears = [name for name, module in model.backbone.audio_tower.named_modules()
                     if isinstance(module, torch.nn.Linear)]
    assert tower_linears and not any(re.fullmatch(model.family.language_layers_pattern, f"audio_tower.{name}")
                                     for name in tower_linears)
    trainable = [name for name, parameter in model.named_parameters() if parameter.requires_grad]
    assert trainable and not any("audio_tower" in name or "multi_modal_projector" in name for name in trainable)


@pytest.mark.parametrize("backbone", FAMILIES)
@torch.no_grad()
def test_a_session_scores_the_same_alone_and_in_a_padded_batch(family_checkpoints, backbone):
    checkpoint = family_checkpoints(backbone)
    model = SLAForSessionScoring.from_pretrained(checkpoint).eval()
    processor = SLAProcessor.from_pretrained(checkpoint)
    target = make_session("target", [("P1", 1.3), ("P3", 3.2), ("P5", 1.7)], seed=1)
    longer = make_session("longer", [("P1", 2.9), ("P3", 34.0), ("P4", 5.8)], seed=7)  # P3 spans two windows
    shorter = make_session("shorter", [("P4", 0.9)], seed=11)
    alone = model(**processor(target)).scores[0]
    batch = processor([longer, target, shorter])
    batched = model(**batch).scores[1]
    difference = float((alone - batched).abs().max())
    print(f"{backbone}: largest alone-vs-batch score difference {difference:.2e}")
    assert difference < 1e-3
    # only valid tokens enter: the 34 s clip has a full window and a 4 s one, never 2 x 375 (or 750) tokens
    per_window = TOKENS_PER_WINDOW[backbone]
    sizes = batch["audio_embed_sizes"].tolist()
    assert per_window in sizes and sum(sizes) < per_window * len(sizes) / 2
    assert int((batch["input_ids"] == processor.audio_token_id).sum()) == sum(sizes)


@pytest.mark.parametrize("backbone,per_second", [("voxtral", 12.5), ("qwen2-audio", 25.0)])
def test_audio_tokens_per_second_follow_the_family(family_checkpoints, backbone, per_second):
    processor = SLAProcessor.from_pretrained(family_checkpoints(backbone))
    units = processor.audio_units(np.zeros(16_000 * 65, dtype=np.float32))
    assert [unit.tokens for unit in units] == [
        TOKENS_PER_WINDOW[backbone], TOKENS_PER_WINDOW[backbone], math.ceil(per_second * 5)]
    assert all(unit.features.shape[-1] == 3000 for unit in units)


def test_voxtral_prior_token_is_a_reserved_control_slot(family_checkpoints):
    processor = SLAProcessor.from_pretrained(family_checkpoints("voxtral"))
    assert processor.prior_token == "<SPECIAL_999>" and processor.prior_token_id == 999
    ids = processor(make_session("s", [("P1", 1.0)]))["input_ids"][0].tolist()
    assert ids[:2] == [1, 999] and ids[2] == processor.tokenizer.convert_tokens_to_ids("[INST]")


def test_voxtral_tokenizer_reads_tekken_json(family_checkpoints):
    """transformers converts tekken.json into a BPE when mistral-common is absent; the stand-in's file encodes and
    decodes text, and names Voxtral's control tokens where the real file has them."""
    folder = parts_folder(family_checkpoints("voxtral"), "voxtral")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    text = "I would like to talk about my favourite book."
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert tokenizer.decode(ids) == text and min(ids) >= 1000
    assert tokenizer.convert_tokens_to_ids(["[INST]", "[/INST]", "[AUDIO]", "[BEGIN_AUDIO]", "<pad>"]) == [
        3, 4, 24, 25, 11]
    assert AutoConfig.from_pretrained(folder).audio_token_id == 24


ISOLATED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.modules["modeling_sla"] = None      # the package must not be importable
    sys.modules["processing_sla"] = None
    import torch
    from transformers import AutoModel, AutoProcessor, pipeline
    folder, session_file = sys.argv[1], sys.argv[2]
    model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
    session = json.load(open(session_file))
    with torch.no_grad():
        scores = model(**processor(session)).scores
    scorer = pipeline("spoken-language-assessment", model=folder, trust_remote_code=True)
    print(json.dumps({"module": type(model).__module__, "backbone": type(model.backbone).__name__,
                      "scores": scores.tolist(), "pipeline": scorer(session, decimals=None)}, allow_nan=False))
    """
)


@pytest.mark.parametrize("backbone", FAMILIES)
def test_saved_model_and_pipeline_load_without_the_package(family_checkpoints, backbone, tmp_path):
    checkpoint = family_checkpoints(backbone)
    model = SLAForSessionScoring.from_pretrained(checkpoint).eval()
    processor = SLAProcessor.from_pretrained(checkpoint)
    folder = tmp_path / "model"
    save_pretrained_with_pipeline(model, processor, folder)
    session_file = write_file_session(tmp_path)
    session = json.loads(session_file.read_text())
    report = run_isolated(ISOLATED_SCRIPT, folder, session_file, folder=tmp_path)
    assert report["module"].startswith("transformers_modules.") and report["backbone"] == type(model.backbone).__name__
    with torch.no_grad():
        expected = model(**processor(session)).scores
    torch.testing.assert_close(torch.tensor(report["scores"]), expected, rtol=0, atol=1e-6)
    piped = report["pipeline"]["scores"]
    assert piped["P1"] == pytest.approx(min(max(float(expected[0, 0]), 2.0), 5.5), abs=1e-6)


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Path:
    from sla_phi4.data.synthetic import make_synthetic_corpus

    root = tmp_path_factory.mktemp("family-corpus") / "kit"
    make_synthetic_corpus(root, sessions=10, seed=5, duration_scale=0.05, gaps=False, progress=False)
    return root


def training_arguments(stage, output_dir, epochs, **overrides):
    return SLATrainingArguments(
        stage=stage, output_dir=str(output_dir), num_train_epochs=epochs, learning_rate=3e-3, seed=0,
        per_device_train_batch_size=2, per_device_eval_batch_size=2, use_cpu=True, disable_tqdm=True,
        dataloader_pin_memory=False, eval_strategy="no", load_best_model_at_end=False, **overrides,
    )


@pytest.mark.parametrize("backbone", FAMILIES)
def test_both_stages_train_and_resume_exactly(family_checkpoints, small_corpus, backbone, tmp_path):
    data = DataArguments(corpus_root=str(small_corpus))
    app = train(ModelArguments(checkpoint=str(family_checkpoints(backbone))), data,
                training_arguments("app", tmp_path / "app", 2, save_strategy="no"))
    assert app.state.log_history[0]["loss"] > 0
    full = tmp_path / "full"
    trainer = train(ModelArguments(checkpoint=str(tmp_path / "app")), data,
                    training_arguments("sla", full, 2, save_strategy="epoch", save_total_limit=None))
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert all(np.isfinite(losses)) and losses[0] > 0
    first = sorted(full.glob("checkpoint-*"), key=lambda path: int(path.name.split("-")[1]))[0]
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    os.symlink(first, resumed / first.name)
    train(ModelArguments(checkpoint=str(tmp_path / "app")), data,
          training_arguments("sla", resumed, 2, save_strategy="epoch", resume_from_checkpoint=str(resumed / first.name)))
    expected, actual = load_file(full / "model.safetensors"), load_file(resumed / "model.safetensors")
    changed = [key for key in expected if ".lora_B." in key and float(expected[key].abs().max()) > 0]
    assert changed  # stage sla trained LoRA
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], rtol=0, atol=1e-6, msg=key)


@torch.no_grad()
def test_real_whisper_in_the_audio_tower_hears_speech_exactly(real_tower_checkpoint, tiny_en_whisper):
    """The Voxtral stand-in's tower is Whisper tiny.en, weight for weight; a spoken session scores the same alone
    and beside others, and its audio tokens differ from those of silence."""
    from transformers import WhisperModel

    from sla_phi4.data import espeak_tts

    model = SLAForSessionScoring.from_pretrained(real_tower_checkpoint).eval()
    whisper = WhisperModel.from_pretrained(tiny_en_whisper).get_encoder().state_dict()
    tower = model.backbone.audio_tower.state_dict()
    assert set(whisper) == set(tower) and all(torch.equal(whisper[key], tower[key]) for key in whisper)
    processor = SLAProcessor.from_pretrained(real_tower_checkpoint)
    speech = espeak_tts.synthesize("I live in a small town near the sea.")
    spoken = {"session_id": "spoken", "responses": [{"part": "P1", "audio": speech, "question": "Where?"}]}
    other = make_session("other", [("P3", 4.0), ("P4", 2.0)], seed=3)
    alone = model(**processor(spoken)).scores[0]
    batched = model(**processor([other, spoken])).scores[1]
    assert float((alone - batched).abs().max()) < 1e-5
    units = processor.audio_units(speech)
    features = torch.from_numpy(np.stack([unit.features for unit in units]))
    lengths = torch.tensor([unit.frames for unit in units])
    sizes = torch.tensor([unit.tokens for unit in units])
    heard = model.encode_speech(features, lengths, sizes)
    silent = model.encode_speech(torch.from_numpy(np.stack([processor.audio_units(np.zeros_like(speech))[0].features])),
                                 lengths, sizes)
    assert float((heard - silent).abs().mean()) > 0.1 * float(heard.abs().mean())


@pytest.mark.parametrize("backbone", FAMILIES)
@torch.no_grad()
def test_packed_sessions_share_windows_and_still_score_alike_in_any_batch(family_checkpoints, backbone):
    """`pack_audio`: a session's short answers share 30 s windows (a clip then hears its neighbours, so its tokens
    differ from its tokens alone), and a session still scores the same alone and in a batch."""
    checkpoint = family_checkpoints(backbone)
    model = SLAForSessionScoring.from_pretrained(checkpoint).eval()
    exact = SLAProcessor.from_pretrained(checkpoint)
    packed = SLAProcessor.from_pretrained(checkpoint, pack_audio=True)
    target = make_session("target", [("P1", 1.3), ("P1", 2.2), ("P3", 3.2), ("P5", 1.7)], seed=1)
    other = make_session("other", [("P1", 2.9), ("P3", 33.0)], seed=7)
    per_clip, shared = exact(target), packed(target)
    assert per_clip["audio_input_features"].shape[0] == 4 and shared["audio_input_features"].shape[0] == 1
    for batch, processor in ((per_clip, exact), (shared, packed)):
        assert int((batch["input_ids"] == processor.audio_token_id).sum()) == int(batch["audio_embed_sizes"].sum())
    alone = model(**shared).scores[0]
    batched = model(**packed([other, target])).scores[1]
    assert float((alone - batched).abs().max()) < 1e-3
    assert float((alone - model(**per_clip).scores[0]).abs().max()) > 1e-6  # heard differently
    with pytest.raises(ValueError, match="packing is not supported"):
        speech_prompt("phi4_multimodal").session_units(None, [np.zeros(16000, np.float32)], 16000, pack=True)
