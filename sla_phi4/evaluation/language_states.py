"""What a session model's frozen language model holds of a session, pooled into one vector per session, for probes.

- `heard_states`: the states at the session's audio positions (what the language model makes of the speech),
  averaged, at every layer: the model's own input path (audio tower, projector, prior token, prompt), with LoRA as
  the checkpoint has it (zero in an untrained one).
- `read_states`: the same language model reading the reference transcript of the session as text: what it would
  hold if it heard every word.
- `head_inputs`: the last position's final state, what the score head reads.

Layer 0 is the input embeddings; layer `k` the output of decoder layer `k`.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from sla_phi4.training.session_cache import SessionCache


@torch.no_grad()
def heard_states(model, cache: SessionCache, rows: list[dict], description: str = "Heard states"
                 ) -> tuple[np.ndarray, np.ndarray]:
    """`(sessions, layers + 1, hidden)` means over each session's audio positions, and `(sessions, hidden)` head
    inputs, from the cached encoder outputs (one session a pass)."""
    model.eval()
    audio_token_id = model.audio_token_id
    pooled, head_inputs = [], []
    for row in tqdm(rows, desc=description, unit="session"):
        inputs = cache.batch([row])
        outputs = model(**inputs, output_hidden_states=True)
        audio = inputs["input_ids"][0] == audio_token_id
        if not audio.any():
            raise ValueError(f"Session {row['session_id']}: no audio positions in its sequence.")
        pooled.append(torch.stack([layer[0, audio].float().mean(0) for layer in outputs.hidden_states]).numpy())
        head_inputs.append(outputs.pooled_state[0].float().numpy())
    return np.stack(pooled), np.stack(head_inputs)


@torch.no_grad()
def read_states(model, tokenizer, texts: list[str], description: str = "Read states") -> np.ndarray:
    """`(texts, layers + 1, hidden)` means over each text's tokens, the model's language model reading it."""
    embeddings = model.family.input_embeddings(model.backbone)
    pooled = []
    for text in tqdm(texts, desc=description, unit="session"):
        ids = tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids
        if ids.shape[1] == 0:
            raise ValueError(f"An empty transcript cannot be read: {text!r}.")
        outputs = model.family.run_language_model(model.backbone, embeddings(ids), None, output_hidden_states=True)
        pooled.append(torch.stack([layer[0].float().mean(0) for layer in outputs.hidden_states]).numpy())
    return np.stack(pooled)


__all__ = ["heard_states", "read_states"]
