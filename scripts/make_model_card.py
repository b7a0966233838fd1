#!/usr/bin/env python
"""`sla card` under its former name: `python scripts/make_model_card.py --help`."""

import sys

from sla_phi4.cli import main


if __name__ == "__main__":
    sys.exit(main(["card", *sys.argv[1:]]))
