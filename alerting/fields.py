"""Secrets at rest: a text field encrypted with Fernet under settings.FIELD_ENCRYPTION_KEY.

Several comma-separated keys may be given: the first encrypts, all decrypt (key rotation).
Ciphertexts are not deterministic, so these fields can be neither searched nor unique.
"""

import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models

PREFIX = "fernet:"


@functools.cache
def _fernet(keys: str) -> MultiFernet:
    return MultiFernet([Fernet(key.strip().encode()) for key in keys.split(",") if key.strip()])


def encrypt(value: str) -> str:
    return PREFIX + _fernet(settings.FIELD_ENCRYPTION_KEY).encrypt(value.encode()).decode()


def decrypt(value: str) -> str:
    if not value.startswith(PREFIX):
        return value  # written before encryption (or by hand): readable, re-encrypted on next save
    try:
        return _fernet(settings.FIELD_ENCRYPTION_KEY).decrypt(value[len(PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise ValueError("cannot decrypt a secret field: FIELD_ENCRYPTION_KEY does not match") from exc


def mask(value: str, *, keep: int = 4) -> str:
    """`https://hooks.slack.com/services/T0/B0/abcd` → `https://hooks.slack.com/…abcd`."""
    if not value:
        return ""
    if "://" in value:
        scheme, rest = value.split("://", 1)
        host = rest.split("/", 1)[0].split("@")[-1]
        return f"{scheme}://{host}/…{value[-keep:]}" if len(rest) > len(host) + keep else f"{scheme}://{host}/…"
    return "•" * 8 + (value[-keep:] if len(value) > keep * 3 else "")


class EncryptedTextField(models.TextField):
    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(str(value))
