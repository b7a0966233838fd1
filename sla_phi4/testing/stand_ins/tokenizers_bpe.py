"""Tiny byte-level BPE tokenizers in the real repos' formats, trained with `tokenizers` on the session templates and
the synthetic corpus's text: Phi-4's (`tokenizer.json`), Qwen2's (`Qwen2Tokenizer`: vocab, merges, tokenizer.json)
and Voxtral's (mistral-common's `tekken.json`)."""

import base64
import json
import os

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast
from transformers.convert_slow_tokenizer import bytes_to_unicode
from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX as QWEN2_PATTERN

from modeling_sla.test_format_sla import load_test_format
from processing_sla.session_template_sla import compile_template
from processing_sla.speech_prompts_sla import SPEECH_PROMPTS
from sla_phi4.data.synthetic import corpus_texts


# The pre-tokenizer regex of tekken (mistral-common; transformers' `_patch_mistral_regex` uses the same).
TEKKEN_PATTERN = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?"
    r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# tekken v7's named control tokens (mistral-common's order, and the audio ones of Voxtral); the rest of the 1,000
# control slots are `<SPECIAL_i>`.
TEKKEN_CONTROL_TOKENS = {
    0: "<unk>", 1: "<s>", 2: "</s>", 3: "[INST]", 4: "[/INST]", 5: "[AVAILABLE_TOOLS]", 6: "[/AVAILABLE_TOOLS]",
    7: "[TOOL_RESULTS]", 8: "[/TOOL_RESULTS]", 9: "[TOOL_CALLS]", 10: "[IMG]", 11: "<pad>", 12: "[IMG_BREAK]",
    13: "[IMG_END]", 14: "[PREFIX]", 15: "[MIDDLE]", 16: "[SUFFIX]", 17: "[SYSTEM_PROMPT]", 18: "[/SYSTEM_PROMPT]",
    19: "[TOOL_CONTENT]", 24: "[AUDIO]", 25: "[BEGIN_AUDIO]", 34: "[TRANSCRIBE]",
}
TEKKEN_NUM_CONTROL = 1000


def training_texts() -> list[str]:
    """Every family's session template rendered with every part of the Speak & Improve format, then the synthetic
    corpus's questions and sentences: the text a stand-in tokenizer will see (the same for every test format, so a
    stand-in is the same whatever test it will score)."""
    sandi = load_test_format("sandi2025")
    parts = [{"name": part.id, "description": part.description, "responses": [{"question": "", "audio": ""}]}
             for part in sandi.parts]
    rendered = [compile_template(prompt.template).render(prior_token="", test_title=sandi.title, parts=parts)
                for prompt in SPEECH_PROMPTS.values()]
    return rendered + corpus_texts()


def _train(pre_tokenizer, vocab_size: int, special_tokens: list[str], normalizer=None) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    if normalizer is not None:
        tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=special_tokens, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(training_texts(), trainer=trainer)
    return tokenizer


# ------------------------------------------------------------------------------------------------------ Phi-4
PHI4_SPECIAL_TOKENS = [
    "<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>", "<|endoftext10|>", "<|endoftext11|>",
]


def phi4_tokenizer(bpe_vocab_size: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE with Phi-4's chat and placeholder special tokens (`<|endoftext11|>` is the audio token)."""
    tokenizer = _train(pre_tokenizers.ByteLevel(add_prefix_space=False), bpe_vocab_size + len(PHI4_SPECIAL_TOKENS),
                       PHI4_SPECIAL_TOKENS)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<|endoftext|>", eos_token="<|endoftext|>", pad_token="<|endoftext|>",
        unk_token="<|endoftext|>", additional_special_tokens=PHI4_SPECIAL_TOKENS[1:],
    )


# ------------------------------------------------------------------------------------------------------ Qwen2
QWEN2_SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>"]


def qwen2_tokenizer(bpe_vocab_size: int):
    """A `Qwen2Tokenizer` (Qwen's pre-tokenizer regex and NFC) whose special tokens follow its BPE vocabulary, in
    Qwen2-Audio's order."""
    from transformers import Qwen2Tokenizer

    pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    trained = json.loads(_train(pre_tokenizer, bpe_vocab_size, [], normalizers.NFC()).to_str())["model"]
    merges = [tuple(pair) if isinstance(pair, list) else tuple(pair.split(" ")) for pair in trained["merges"]]
    return Qwen2Tokenizer(
        vocab=trained["vocab"], merges=merges, additional_special_tokens=QWEN2_SPECIAL_TOKENS[1:],
    )


def save_qwen2_vocab_files(tokenizer, folder: str) -> None:
    """`vocab.json` and `merges.txt` beside `tokenizer.json`, as the real repo ships them."""
    model = json.loads(tokenizer.backend_tokenizer.to_str())["model"]
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as handle:
        json.dump(model["vocab"], handle, ensure_ascii=False, allow_nan=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as handle:
        handle.write("#version: 0.2\n")
        handle.writelines(" ".join(pair) + "\n" if isinstance(pair, list) else pair + "\n" for pair in model["merges"])


# ------------------------------------------------------------------------------------------------------ tekken
def tekken_file(bpe_vocab_size: int, num_mel_bins: int) -> dict:
    """A `tekken.json` (version v7, 1,000 control slots, an audio section) whose BPE ranks are a byte-level BPE
    trained with tekken's pre-tokenizer: the 256 single bytes, then each merge's product in merge order."""
    pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(TEKKEN_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    trained = json.loads(_train(pre_tokenizer, bpe_vocab_size, []).to_str())["model"]
    byte_of = {character: byte for byte, character in bytes_to_unicode().items()}

    def as_bytes(token: str) -> bytes:
        return bytes(byte_of[character] for character in token)

    ranks = [bytes([value]) for value in range(256)]
    for pair in trained["merges"]:
        first, second = pair if isinstance(pair, list) else pair.split(" ")
        ranks.append(as_bytes(first) + as_bytes(second))
    return {
        "config": {"pattern": TEKKEN_PATTERN, "num_vocab_tokens": len(ranks),
                   "default_vocab_size": len(ranks) + TEKKEN_NUM_CONTROL,
                   "default_num_special_tokens": TEKKEN_NUM_CONTROL, "version": "v7"},
        "vocab": [{"rank": rank, "token_bytes": base64.b64encode(token).decode(), "token_str": _printable(token)}
                  for rank, token in enumerate(ranks)],
        "special_tokens": [{"rank": rank, "token_str": TEKKEN_CONTROL_TOKENS.get(rank, f"<SPECIAL_{rank}>"),
                            "is_control": True} for rank in range(TEKKEN_NUM_CONTROL)],
        "audio": {"sampling_rate": 16000, "frame_rate": 12.5, "chunk_length_s": 30.0,
                  "audio_encoding_config": {"num_mel_bins": num_mel_bins, "hop_length": 160, "window_size": 400}},
    }


def _printable(token: bytes) -> str | None:
    try:
        return token.decode("utf-8")
    except UnicodeDecodeError:
        return None


__all__ = [
    "PHI4_SPECIAL_TOKENS", "QWEN2_SPECIAL_TOKENS", "phi4_tokenizer", "qwen2_tokenizer", "save_qwen2_vocab_files",
    "tekken_file", "training_texts",
]
