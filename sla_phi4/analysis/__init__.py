"""The backbones at real size without their weights: their published configurations (`backbones/`, package data)
and analytic FLOPs and token counts of a real-length session per backbone family (`real_size`)."""
