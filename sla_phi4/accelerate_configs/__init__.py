"""Accelerate configurations for `accelerate launch --config_file ... -m sla_phi4 train` (docs/training.md): DDP, FSDP,
DeepSpeed ZeRO-2 and the two-process CPU form. Shipped in the wheel; `package_file("sla_phi4.accelerate_configs",
"ddp.yaml")` is the path of one."""
