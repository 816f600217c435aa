"""The API's JSON parser: DRF's, and every body checked for text PostgreSQL cannot store
(see governance.text) — a 400 naming the field where it is, before any view reads a value."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

from ..text import UNSTORABLE_TEXT_MESSAGE, unstorable_text_path


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type=media_type, parser_context=parser_context)
            path = unstorable_text_path(data)
        except RecursionError:  # `[[[[…` deeper than Python recurses: DRF lets it through as a 500
            raise ParseError("JSON parse error - the document is nested too deeply.") from None
        if path is not None:
            raise ValidationError({path or "non_field_errors": [UNSTORABLE_TEXT_MESSAGE]})
        return data
