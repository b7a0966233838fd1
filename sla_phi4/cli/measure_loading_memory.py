"""`sla measure-loading-memory`: the command line of :mod:`sla_phi4.benchmarks.loading_memory`."""

from sla_phi4.cli.parser import SLAArgumentParser


DESCRIPTION = """\
Peak host memory of `SLAForSessionScoring.from_backbone` on a scaled-up Phi-4 stand-in, against the size of the
weights it loads: does building the model hold a second full copy of the backbone in host memory? Each measurement
runs in a fresh process. On a GPU machine, --device-map cuda shows what stays on the host."""

EXAMPLES = """\
  sla measure-loading-memory
  sla measure-loading-memory --hidden 3072 --layers 24 --device-map cuda"""


def build_parser() -> SLAArgumentParser:
    parser = SLAArgumentParser(description=DESCRIPTION, examples=EXAMPLES)
    parser.add_argument("--hidden", type=int, default=1536,
                        help="decoder width: heads are 128 wide and a multiple of 3 (the real 24:8 grouping)")
    parser.add_argument("--layers", type=int, default=12, help="decoder layers")
    parser.add_argument("--device_map", default="cpu", help="cpu, cuda, auto, or none (no device map)")
    parser.add_argument("--dtype", default="bfloat16", help="dtype of the weights")
    return parser


def main(argv=None) -> dict:
    args = build_parser().parse_args(argv)
    from sla_phi4.benchmarks.loading_memory import measure_loading_memory

    return measure_loading_memory(args.hidden, args.layers, args.device_map, args.dtype)
