"""Warnings and errors raised by mgbp-classic."""


class ConvergenceWarning(UserWarning):
    """An iterative solver stopped before reaching its tolerance."""


class ImageError(ValueError):
    """An image could not be read, written or used (message: one line, names the file)."""


class ModelFileError(ValueError):
    """A weight/model file is missing, truncated, corrupt or does not match the configuration."""


class MultiFrameWarning(UserWarning):
    """An image file holds several frames (animation, pages); only the first is read."""


class TrainingError(RuntimeError):
    """Training cannot go on: the loss or the weights became NaN or infinite, or a checkpoint or the
    log cannot be written (message: one line, names the step or the file)."""
