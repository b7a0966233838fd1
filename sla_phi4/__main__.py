"""`python -m sla_phi4 COMMAND ...` is `sla COMMAND ...` (also under `torchrun` and `accelerate launch -m`)."""

import sys

from sla_phi4.cli import main


sys.exit(main())
