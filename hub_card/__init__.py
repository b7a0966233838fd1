"""What a published model carries beside its weights: the model card template, the upload allow-list and the
`evaluate` metric Space. Installed as `sla_phi4.hub_card` (see pyproject.toml)."""
