#!/usr/bin/env python
"""`sla make-corpus` under its former name: `python scripts/make_synthetic_corpus.py --help`."""

import sys

from sla_phi4.cli import main


if __name__ == "__main__":
    sys.exit(main(["make-corpus", *sys.argv[1:]]))
