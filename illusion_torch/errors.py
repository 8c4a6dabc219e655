"""The project's one error class: what a user can cause, with a message that says what to do.

Usage::

    from illusion_torch.errors import IllusionError
    try:
        il.partition(model, x[:1], chips=8, capacity="1B")
    except IllusionError as e:      # also a ValueError
        print(e)                    # "layer conv1 ... use chips of at least 156 B"

Pure code raises it (or a subclass: ``TraceError``, ``CheckpointError``, ``ImageError``, ``SourceMissing``);
the CLI catches only this class and prints its message, so an internal bug still shows its traceback.
"""

from __future__ import annotations

__all__ = ["IllusionError", "CapacityError"]


class IllusionError(ValueError):
    """Bad input or a missing resource that the user can fix; the message says how."""


class CapacityError(IllusionError):
    """The chips asked for cannot hold the model: too few, or too small for a layer's smallest piece."""
