#!/usr/bin/env python
"""`sla train` under its former name: `python scripts/train.py --help`."""

import sys

from sla_phi4.cli import main


if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
