"""The application's one error type. Services raise it; the API and admin show it."""


class VigilError(Exception):
    """A refused operation: `code` is stable snake_case, `message` a sentence for people.

    `status` is the HTTP status the API answers with; `fields` maps a field name to
    its messages when the error concerns input.
    """

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, fields: dict | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.fields = fields or {}


class ValidationFailed(VigilError):
    status = 400
    code = "validation_error"


class Conflict(VigilError):
    """A state conflict, e.g. an invalid lifecycle transition."""

    status = 409
    code = "conflict"


class NotFound(VigilError):
    status = 404
    code = "not_found"
