"""Warnings and errors raised by mgbp-classic."""


class ParamError(ValueError):
    """A bad argument: :attr:`param` names the argument it blames, :attr:`reason` says what is
    allowed and what was received.

    The message is one line, the argument's name and the reason:
    ``levels must be between 1 and 4 for a 40×40 image, got 6``. The command line reports the
    reason against the option of that name (``Invalid value for '--levels': must be between 1 and
    4 ...``) without reading the message.

    Parameters
    ----------
    param : str
        The keyword name of the argument (as the public function spells it).
    reason : str
        What is wrong, e.g. ``must be between 1 and 4 for a 40×40 image, got 6``.
    subject : str, optional
        What the message names first (default ``param``); ``""`` when ``reason`` is a whole
        sentence (``cannot resume run.npz: ...``).
    """

    def __init__(self, param, reason, *, subject=None):
        self.param, self.reason = param, reason
        self.subject = param if subject is None else subject
        super().__init__(f"{self.subject} {reason}" if self.subject else reason)

    def __reduce__(self):                      # pickled whole (Dask sends a task's error back)
        return _param_error, (type(self), self.param, self.reason, self.subject)


def _param_error(cls, param, reason, subject):
    return cls(param, reason, subject=subject)


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
