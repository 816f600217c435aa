"""Text PostgreSQL cannot store: NUL, and a UTF-16 surrogate without its pair.

JSON lets a sender write both (`\\u0000`, a lone `\\ud800`); Python decodes them into a str that
PostgreSQL refuses in text and jsonb columns (and UTF-8 cannot encode a lone surrogate at all).
Input that holds either is refused at the door with the place it was found, never left to fail
as a database error.
"""

UNSTORABLE_TEXT_MESSAGE = "Text may not contain NUL characters or unpaired UTF-16 surrogates."


def is_storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")  # after JSON decoding, a surrogate left in a str has no pair
    except UnicodeEncodeError:
        return False
    return True


def unstorable_text_path(value, path: str = "") -> str | None:
    """The dotted path (`grants.0.account`) of the first string or object key in a decoded JSON value
    that PostgreSQL cannot store, "" for the value itself, or None when all of it can be stored."""
    pending = [(path, value)]
    while pending:
        where, item = pending.pop()
        if isinstance(item, str):
            if not is_storable(item):
                return where
        elif isinstance(item, dict):
            for key, sub in item.items():
                inner = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and not is_storable(key):
                    return where
                pending.append((inner, sub))
        elif isinstance(item, list):
            pending.extend((f"{where}.{index}" if where else str(index), sub) for index, sub in enumerate(item))
    return None
