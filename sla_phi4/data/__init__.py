"""Corpora: the Speak & Improve 2025 kit loader (`speak_improve`), the synthetic corpus in the kit's layout
(`synthetic`), speech synthesis with espeak-ng (`espeak_tts`) and the rows the commands score (`sessions`)."""
