"""What a random stand-in must have set the way a trained encoder has it, or it hears nothing."""

import torch


@torch.no_grad()
def keep_local_acoustics(*modules: torch.nn.Module) -> None:
    """He-initialises the convolutions and linear layers that turn log-mels into an encoder's first states.

    Both encoders initialise every weight with std 0.02, a scale meant for wide models about to be trained. In a
    random stand-in of this width, the conformer's subsampling then outputs about 1e-5 of what its blocks add, and
    Whisper's convolutions little beside its positional embeddings: every token's encoding becomes a global
    average, the same whatever was said where (zeroing a clip's second half moved its first tokens' encodings
    as much as its last). A trained encoder's tokens describe their own stretch of speech; He initialisation
    keeps that locality in the stand-in (the same zeroing then leaves the first half's tokens within 0.004).
    """
    for module in modules:
        for layer in module.modules():
            if isinstance(layer, (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d)):
                torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                if layer.bias is not None:
                    torch.nn.init.zeros_(layer.bias)


__all__ = ["keep_local_acoustics"]
