"""The studio's error vocabulary.

Every failure a user can cause or fix is one of these, with a message that names the problem
and the fix. The CLI turns them into exit code 2 and one line on stderr, the UI into `gr.Error`;
nothing else ever reaches a user as a traceback.
"""

from __future__ import annotations


class StudioError(Exception):
    """Base class: `str(error)` is the whole user-facing message."""

    kind = "error"


class InvalidRequest(StudioError, ValueError):
    """A setting of a job is out of bounds; the message names the field, the value and the rule."""

    kind = "invalid_request"

    def __init__(self, field: str, value: object, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"{field}: {shown} is not allowed; {allowed}")


class NotYours(StudioError):
    """With logins on, a user tried to see or change another user's job."""

    kind = "forbidden"


class InvalidSetting(StudioError):
    """An environment setting of the studio cannot be used; the message names it and the fix."""

    kind = "invalid_setting"


class ModelUnavailable(StudioError):
    """Weights are missing or broken; the message says where they were looked for and how to get them."""

    kind = "model_unavailable"


class OutOfMemory(StudioError):
    """The GPU ran out of memory even with the lightest plan that was tried."""

    kind = "out_of_memory"


class Cancelled(StudioError):
    """The user stopped the job; a status, not a failure."""

    kind = "cancelled"

    def __init__(self, message: str = "cancelled", step: int = 0) -> None:
        super().__init__(message)
        self.step = step


class StorageError(StudioError):
    """An output could not be written (permissions, full disk)."""

    kind = "storage"
