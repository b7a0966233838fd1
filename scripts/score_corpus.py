#!/usr/bin/env python
"""`sla score` under its former name: `python scripts/score_corpus.py --help`."""

import sys

from sla_phi4.cli import main


if __name__ == "__main__":
    sys.exit(main(["score", *sys.argv[1:]]))
