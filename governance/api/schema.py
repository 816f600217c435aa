"""drf-spectacular hooks: the inbound webhooks (plain Django views) join the OpenAPI document."""

from ..registries import webhooks

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            },
        }
    },
}

_ERRORS = {
    "400": "validation_error or invalid_json",
    "401": "not_authenticated or authentication_failed",
    "403": "permission_denied (the key lacks the scope)",
    "413": "payload_too_large",
    "415": "unsupported_media_type",
}


def add_webhooks(result, generator, request, public):
    components = result.setdefault("components", {})
    # The API's own views may have produced the same component already (from a serializer).
    components.setdefault("schemas", {}).setdefault("Error", ERROR_SCHEMA)
    components.setdefault("securitySchemes", {}).setdefault(
        "apiKey", {"type": "http", "scheme": "bearer", "description": "A Vigil API key with the needed scopes."}
    )
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for hook in webhooks:
        result.setdefault("paths", {})[hook.path] = {
            "post": {
                "operationId": hook.operation_id,
                "summary": hook.summary,
                "description": f"{hook.description}\n\nNeeds an API key with the scope `{hook.scope}`.",
                "tags": [hook.tag],
                "security": [{"apiKey": []}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": hook.request_schema}}},
                "responses": {
                    "202": {"description": "Stored", "content": {"application/json": {"schema": hook.accepted_schema}}},
                    **{code: {"description": text, "content": error} for code, text in _ERRORS.items()},
                },
            }
        }
    return result
