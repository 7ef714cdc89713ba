"""The one exception type that means "the user asked for something we can't do".

The CLI turns a :class:`SuiteError` into one line on stderr and exit code 2; any
other exception inside a case becomes a failed row (see ``suite.run.runner``).
"""


class SuiteError(Exception):
    """Bad input: an unknown name, a malformed file, an unusable path.

    The message is shown to the user as is, so it names what was received and
    what would have been valid.
    """


class PrerequisiteFailed(RuntimeError):
    """A case not attempted because something it needs already failed in this run (its row is ``skipped``)."""


def one_line(error: BaseException) -> str:
    """``Type: first line of the message``, for a row's ``error`` column."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
