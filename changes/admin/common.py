"""Shared helpers of the changes admin."""

from django.contrib import messages

from governance.errors import VigilError


def run_service(modeladmin, request, success: str, call) -> bool:
    try:
        call()
    except VigilError as exc:
        modeladmin.message_user(request, exc.message, messages.ERROR)
        return False
    modeladmin.message_user(request, success, messages.SUCCESS)
    return True
