"""The one error type whose message is written for a person.

Every refusal in the cores (a bad number, an impossible stride, an unreadable image, a
dataset with one class, a busy trainer, a full disk) is a `MennyError` carrying one
sentence: what was wrong and what is allowed. The app shows exactly these to visitors, and
nothing else: any other exception is a bug, logged with its traceback and shown as one
generic line. It is a ValueError (and `WrongType` also a TypeError), so callers that
caught those before still do.
"""

from __future__ import annotations


class MennyError(ValueError):
    """A refusal with one sentence for a person."""


class WrongType(MennyError, TypeError):
    """A value of the wrong kind ("stride must be a whole number, got 'two'")."""
