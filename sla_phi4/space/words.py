"""The Space's wording, read from `words.json` (data, not code)."""

import json
from functools import cache
from importlib.resources import files


WORDS_FILE = "words.json"


@cache
def words() -> dict:
    """The parsed `words.json` of this package (read once)."""
    return json.loads(files(__package__).joinpath(WORDS_FILE).read_text(encoding="utf-8"))


class SpaceInputError(ValueError):
    """Answers that cannot be scored as given; the message is meant for the person using the app."""


def input_error(key: str, **values) -> SpaceInputError:
    """A SpaceInputError worded by `words.json`'s `errors[key]`."""
    return SpaceInputError(words()["errors"][key].format(**values))
