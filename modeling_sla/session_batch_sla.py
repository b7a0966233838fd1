"""A padded batch of sessions cut into one-session batches, each exactly as the processor makes it for that session
alone (its own tokens without padding, its own audio units and APP windows), so that a session's scores cannot
depend on its batch-mates."""

import torch


# Model inputs with one row per session.
ROW_INPUTS = ("app_pooled", "app_probs")


def valid_positions(input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> list[torch.Tensor]:
    """The token positions of each row that are not padding."""
    if attention_mask is None:
        return [torch.arange(input_ids.shape[1], device=input_ids.device)] * input_ids.shape[0]
    return [row.nonzero().flatten() for row in attention_mask.bool()]


def unit_ranges(tokens_per_row: list[int], embed_sizes: list[int]) -> list[range]:
    """Which audio units (clips or windows, in placeholder order) belong to each row, from the row's audio tokens."""
    ranges, unit = [], 0
    for row, tokens in enumerate(tokens_per_row):
        start, total = unit, 0
        while total < tokens and unit < len(embed_sizes):
            total += embed_sizes[unit]
            unit += 1
        if total != tokens:
            raise ValueError(f"Session {row} of the batch holds {tokens} audio placeholders, but its audio units "
                             f"give {total} audio tokens.")
        ranges.append(range(start, unit))
    if unit != len(embed_sizes):
        raise ValueError(f"The batch has {len(embed_sizes)} audio units, but its audio placeholders use only {unit}.")
    return ranges


def split_sessions(inputs: dict, audio_token_id: int) -> list[dict]:
    """One model-input dict per session of a batch (`inputs`: the forward's tensor arguments, None where absent)."""
    input_ids, attention_mask = inputs["input_ids"], inputs.get("attention_mask")
    positions = valid_positions(input_ids, attention_mask)
    sessions = []
    for row, kept in enumerate(positions):
        ids = input_ids[row, kept].unsqueeze(0)
        session = {"input_ids": ids,
                   "attention_mask": None if attention_mask is None else attention_mask.new_ones(ids.shape)}
        for key in ROW_INPUTS:
            session[key] = None if inputs.get(key) is None else inputs[key][row : row + 1]
        sessions.append(session)
    tokens = [int((input_ids[row, kept] == audio_token_id).sum()) for row, kept in enumerate(positions)]
    split_audio(inputs, tokens, sessions)
    split_app_windows(inputs, sessions)
    return sessions


def split_audio(inputs: dict, tokens_per_row: list[int], sessions: list[dict]) -> None:
    """Each session's audio: its precomputed embeddings, or its units' features."""
    if inputs.get("audio_embeds") is not None:
        for session, embeds in zip(sessions, inputs["audio_embeds"].split(tokens_per_row)):
            session["audio_embeds"] = embeds
        return
    if inputs.get("audio_input_features") is None:
        return
    sizes = inputs["audio_embed_sizes"]
    for session, units in zip(sessions, unit_ranges(tokens_per_row, sizes.tolist())):
        picked = slice(units.start, units.stop)
        session["audio_input_features"] = inputs["audio_input_features"][picked].contiguous()
        session["audio_feature_lengths"] = inputs["audio_feature_lengths"][picked].contiguous()
        session["audio_embed_sizes"] = sizes[picked].contiguous()


def split_app_windows(inputs: dict, sessions: list[dict]) -> None:
    """Each session's APP windows, with the window-to-session index of a batch of one."""
    if inputs.get("app_input_features") is None:
        return
    owner = inputs["app_window_session"]
    for row, session in enumerate(sessions):
        windows = (owner == row).nonzero().flatten()
        session["app_input_features"] = inputs["app_input_features"].index_select(0, windows.to(
            inputs["app_input_features"].device))
        session["app_frame_counts"] = inputs["app_frame_counts"].index_select(0, windows.to(
            inputs["app_frame_counts"].device))
        session["app_window_session"] = torch.zeros_like(windows)


def join_hidden_states(per_session: list[tuple[torch.Tensor, ...]], positions: list[torch.Tensor],
                       length: int) -> tuple[torch.Tensor, ...]:
    """Each layer's hidden states of one-session runs put back into the batch's padded layout (zeros at padding)."""
    joined = []
    for layer in range(len(per_session[0])):
        states = per_session[0][layer]
        batch = states.new_zeros(len(per_session), length, states.shape[-1])
        for row, (session, kept) in enumerate(zip(per_session, positions)):
            batch[row, kept] = session[layer][0]
        joined.append(batch)
    return tuple(joined)


__all__ = ["join_hidden_states", "split_sessions", "unit_ranges", "valid_positions"]
