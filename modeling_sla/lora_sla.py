"""LoRA on the backbone's language layers, and merging of Phi-4's separate speech LoRA into frozen weights."""

import json
import os
import re
from contextlib import contextmanager

import torch
from peft import LoraConfig, inject_adapter_in_model
from peft.tuners.lora import LoraLayer
from safetensors import safe_open
from torch import nn

from .configuration_sla import SLAConfig


ADAPTER_NAME = "default"


def inject_language_lora(backbone: nn.Module, config: SLAConfig, target_modules: str, language_prefix: str) -> int:
    """Wraps the modules that `target_modules` (an anchored regex) names with LoRA; every one must lie under
    `language_prefix` (the language layers). Returns how many were wrapped."""
    lora_config = LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=target_modules,
        bias="none",
    )
    inject_adapter_in_model(lora_config, backbone, adapter_name=ADAPTER_NAME)
    wrapped = [name for name, module in backbone.named_modules() if isinstance(module, LoraLayer)]
    outside = [name for name in wrapped if not name.startswith(language_prefix)]
    if outside:
        raise ValueError(f"LoRA target pattern also wrapped modules outside the language layers: {outside[:5]}")
    if not wrapped:
        raise ValueError(f"LoRA target pattern {target_modules!r} matched no module of the backbone.")
    return len(wrapped)


def reset_lora(module: nn.Module) -> None:
    """Re-initialises every LoRA layer as the identity (B = 0); `post_init` would otherwise leave B random."""
    for layer in module.modules():
        if isinstance(layer, LoraLayer):
            layer.reset_lora_parameters(ADAPTER_NAME, init_lora_weights=True)


def lora_layers(module: nn.Module) -> list[LoraLayer]:
    return [layer for layer in module.modules() if isinstance(layer, LoraLayer)]


@contextmanager
def lora_merged(module: nn.Module):
    """For the block, every LoRA update is merged into its frozen base weight (W + scale * B @ A, computed in float32
    and rounded once to W's dtype): scoring then runs the base GEMMs alone. The base weights are copied first and put
    back after, bit for bit (subtracting the update again would not restore bf16 weights exactly)."""
    layers = lora_layers(module)
    saved = [layer.get_base_layer().weight.detach().clone() for layer in layers]
    try:
        for layer in layers:
            layer.merge(adapter_names=[ADAPTER_NAME])
        yield len(layers)
    finally:
        for layer, weight in zip(layers, saved):
            if layer.merged:
                layer.unmerge()
            layer.get_base_layer().weight.data.copy_(weight)


@contextmanager
def lora_in_dtype(module: nn.Module, dtype: torch.dtype):
    """For the block, the LoRA weights are held in `dtype` (the backbone's), so the adapters run as GEMMs of that
    dtype beside the base layer instead of float32 ones with casts; the float32 weights are put back after."""
    weights = [getattr(layer, name)[ADAPTER_NAME].weight for layer in lora_layers(module)
               for name in ("lora_A", "lora_B")]
    saved = [weight.data for weight in weights]
    try:
        for weight in weights:
            weight.data = weight.data.to(dtype)
        yield len(weights)
    finally:
        for weight, data in zip(weights, saved):
            weight.data = data


def _adapter_key_to_module(key: str) -> tuple[str, str] | None:
    """`model.layers.0.self_attn.qkv_proj.lora_A.weight` -> (`layers.0.self_attn.qkv_proj`, `lora_A`)."""
    match = re.fullmatch(r"(?:base_model\.model\.)?(?:model\.)?(.+)\.(lora_[AB])(?:\.[^.]+)?\.weight", key)
    return (match.group(1), match.group(2)) if match else None


@torch.no_grad()
def merge_speech_lora(backbone: nn.Module, adapter_dir: str) -> int:
    """Merges a PEFT LoRA adapter (Phi-4's `speech-lora/`) into the backbone's weights: W += (alpha / r) * B @ A,
    computed in float32 on the weight's device and rounded once to the weight's dtype (adding a bf16 update to bf16
    weights would round twice, and the speech LoRA's r 320 update is large).

    Fails loudly when a pair of A/B weights is incomplete, names no module of the backbone, or when a module that
    the adapter's target pattern names is left without weights. Returns the number of modules merged.
    """
    with open(os.path.join(adapter_dir, "adapter_config.json"), encoding="utf-8") as handle:
        adapter_config = json.load(handle)
    scaling = adapter_config["lora_alpha"] / adapter_config["r"]
    weights_path = os.path.join(adapter_dir, "adapter_model.safetensors")
    if not os.path.exists(weights_path):
        raise FileNotFoundError(f"No adapter_model.safetensors in the speech LoRA folder {adapter_dir}")
    pairs: dict[str, dict[str, str]] = {}
    with safe_open(weights_path, framework="pt") as weights:  # tensors are read one module at a time
        for key in weights.keys():
            parsed = _adapter_key_to_module(key)
            if parsed is None:
                raise ValueError(f"Unrecognised key {key!r} in {weights_path}")
            pairs.setdefault(parsed[0], {})[parsed[1]] = key
        modules = dict(backbone.named_modules())
        for name, pair in pairs.items():
            if set(pair) != {"lora_A", "lora_B"}:
                raise ValueError(f"Speech LoRA in {weights_path} has only {sorted(pair)} for {name}")
            target = modules.get(name)
            if target is None:
                raise ValueError(f"Speech LoRA in {weights_path} names {name}, which the backbone does not have")
            weight = target.base_layer.weight if isinstance(target, LoraLayer) else target.weight
            lora_b, lora_a = (weights.get_tensor(pair[key]).to(device=weight.device, dtype=torch.float32)
                              for key in ("lora_B", "lora_A"))
            merged = torch.mm(lora_b, lora_a).mul_(scaling).add_(weight)  # one float32 temporary
            weight.copy_(merged)
    _check_all_targets_merged(adapter_config.get("target_modules"), modules, pairs, adapter_dir)
    return len(pairs)


def _check_all_targets_merged(target_modules, modules: dict, merged: dict, adapter_dir: str) -> None:
    if not isinstance(target_modules, str):
        return
    pattern = re.compile(target_modules)
    expected = {
        name
        for name in modules
        if pattern.fullmatch(f"model.{name}") or pattern.fullmatch(name)
        if not any(part.startswith("lora_") or part == "base_layer" for part in name.split("."))
    }
    missed = sorted(expected - set(merged))
    if missed:
        raise ValueError(f"Speech LoRA in {adapter_dir} left {len(missed)} target modules unmerged, e.g. {missed[:3]}")


__all__ = ["inject_language_lora", "lora_in_dtype", "lora_layers", "lora_merged", "merge_speech_lora", "reset_lora"]
