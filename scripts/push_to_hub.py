#!/usr/bin/env python
"""`sla push` under its former name: `python scripts/push_to_hub.py --help`."""

import sys

from sla_phi4.cli import main


if __name__ == "__main__":
    sys.exit(main(["push", *sys.argv[1:]]))
