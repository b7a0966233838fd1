"""Sessions with some of their responses taken out: the one rule behind the truncation study and the
`--drop_responses` augmentation.

A truncated session is an ordinary loader row: the responses kept (in their order), the session's marks unchanged,
and a session ID of its own that names the responses taken out (`<id>~without~<response>+<response>`). The session
cache keys its entries by that ID and by the responses themselves, so a truncated session is encoded exactly as the
processor renders it (packed windows and the APP's pooling over the responses kept only), never sliced out of the
whole session's encoding.
"""

from collections.abc import Iterable

import numpy as np


SEPARATOR = "~without~"


def response_name(response: dict, position: int) -> str:
    """A response's ID, or its position in the session when it has none."""
    return str(response.get("response_id") or f"#{position}")


def without_responses(row: dict, dropped: Iterable[int]) -> dict:
    """`row` without the responses at positions `dropped` (its own order kept, marks unchanged). Taking out none
    returns `row` itself; taking out all is an error (a session needs a response)."""
    dropped = sorted(set(dropped))
    if not dropped:
        return row
    responses = row["responses"]
    if any(position < 0 or position >= len(responses) for position in dropped):
        raise IndexError(f"Session {row['session_id']}: positions {dropped} for {len(responses)} responses.")
    if len(dropped) == len(responses):
        raise ValueError(f"Session {row['session_id']}: cannot take out all {len(responses)} responses.")
    names = "+".join(response_name(responses[position], position) for position in dropped)
    kept = [response for position, response in enumerate(responses) if position not in dropped]
    return {**row, "session_id": f"{row['session_id']}{SEPARATOR}{names}", "responses": kept}


def whole_session_id(session_id: str) -> str:
    """The ID of the whole session a (possibly truncated) session comes from."""
    return session_id.split(SEPARATOR, 1)[0]


def random_positions(row: dict, count: int, rng: np.random.Generator) -> list[int]:
    """`count` positions drawn uniformly without replacement from all of the session's responses (every part
    eligible), leaving at least one response."""
    available = len(row["responses"])
    if count >= available:
        raise ValueError(f"Session {row['session_id']}: cannot take {count} of its {available} responses out and keep "
                         f"one.")
    return sorted(rng.choice(available, size=count, replace=False).tolist())


def part_positions(row: dict, part: str) -> list[int]:
    """The positions of every response of `part`."""
    return [position for position, response in enumerate(row["responses"]) if response["part"] == part]


__all__ = ["SEPARATOR", "part_positions", "random_positions", "response_name", "whole_session_id",
           "without_responses"]
