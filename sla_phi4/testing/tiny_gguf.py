"""A tiny random `llama` language model written as a GGUF file by the `gguf` package, in the layout of SmolLM2's
(byte-level BPE tokenizer with ChatML special tokens, tied embeddings), for fast tests of `sla convert-lm` and of
stand-ins that take a language model."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np


SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
MERGES = ("Ġ t", "h e", "Ġt he", "Ġ a", "i n", "Ġ s", "e r", "o n")
CHAT_TEMPLATE = "{% for message in messages %}<|im_start|>{{ message['content'] }}<|im_end|>{% endfor %}"
# GGUF token types (llama.cpp): 1 normal, 3 control.
NORMAL, CONTROL = 1, 3


@dataclass(frozen=True)
class TinyLlamaSize:
    """Widths of the tiny model: `hidden` is split over `heads` query heads sharing `kv_heads` key/value heads."""

    layers: int = 2
    hidden: int = 32
    heads: int = 4
    kv_heads: int = 2
    ffn: int = 64


def tiny_vocabulary() -> list[str]:
    """Special tokens, the 256 byte symbols of byte-level BPE, then one token per merge."""
    from gguf.vocab import bytes_to_unicode

    return [*SPECIAL_TOKENS, *sorted(set(bytes_to_unicode().values())), *(merge.replace(" ", "") for merge in MERGES)]


def write_tiny_gguf(path: str | Path, seed: int = 0, size: TinyLlamaSize = TinyLlamaSize()) -> dict[str, np.ndarray]:
    """Writes the model (float32 tensors) and its tokenizer to `path`; returns the tensors written, by GGUF name."""
    import gguf

    rng = np.random.default_rng(seed)
    tokens = tiny_vocabulary()
    head_dim = size.hidden // size.heads
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny test llama")
    writer.add_block_count(size.layers)
    writer.add_context_length(256)
    writer.add_embedding_length(size.hidden)
    writer.add_feed_forward_length(size.ffn)
    writer.add_head_count(size.heads)
    writer.add_head_count_kv(size.kv_heads)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(head_dim)
    writer.add_vocab_size(len(tokens))
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list(tokens)
    writer.add_token_types([CONTROL] * len(SPECIAL_TOKENS) + [NORMAL] * (len(tokens) - len(SPECIAL_TOKENS)))
    writer.add_token_merges(list(MERGES))
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_pad_token_id(2)
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)
    shapes = {"token_embd.weight": (len(tokens), size.hidden), "output_norm.weight": (size.hidden,)}
    for layer in range(size.layers):
        shapes |= {
            f"blk.{layer}.attn_norm.weight": (size.hidden,), f"blk.{layer}.ffn_norm.weight": (size.hidden,),
            f"blk.{layer}.attn_q.weight": (size.hidden, size.hidden),
            f"blk.{layer}.attn_k.weight": (size.kv_heads * head_dim, size.hidden),
            f"blk.{layer}.attn_v.weight": (size.kv_heads * head_dim, size.hidden),
            f"blk.{layer}.attn_output.weight": (size.hidden, size.hidden),
            f"blk.{layer}.ffn_gate.weight": (size.ffn, size.hidden),
            f"blk.{layer}.ffn_up.weight": (size.ffn, size.hidden),
            f"blk.{layer}.ffn_down.weight": (size.hidden, size.ffn),
        }
    tensors = {}
    for name, shape in shapes.items():
        values = 0.1 * rng.standard_normal(shape) + (1.0 if name.endswith("norm.weight") else 0.0)
        tensors[name] = values.astype(np.float32)
        writer.add_tensor(name, tensors[name])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return tensors


__all__ = ["TinyLlamaSize", "tiny_vocabulary", "write_tiny_gguf"]
