"""drf-spectacular hooks: the inbound webhooks (plain Django views) join the OpenAPI document, and
every operation lists the refusals any API endpoint can give, in the one error format."""

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


# Answers that do not depend on the endpoint, and when an operation can give them. A view's own
# declaration of the same status (with its specific codes) is kept.
_EVERY_OPERATION = {
    "400": "validation_error: a parameter or field is wrong (`fields` names it); invalid_json: the body is not JSON",
    "401": "not_authenticated or authentication_failed: no API key, or an unknown, revoked or expired one",
    "403": "permission_denied: the key lacks the scope, or the person the role",
}
_NOT_FOUND = "not_found: no such object, or a page number past the last page"
_WITH_BODY = {
    "413": "payload_too_large: the body is larger than the limit",
    "415": "unsupported_media_type: the body is not application/json",
}
_RATE_LIMITED = {
    "description": "rate_limited: too many requests for this key or client address; try again after Retry-After",
    "headers": {"Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}},
}


def add_error_responses(result, generator, request, public):
    """Document 400/401/403 everywhere; 404 where a path names an object or a list pages; 413/415 on
    writes; 429 on everything but the inbound webhooks, which are never rate-limited."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    ingestion = {hook.path for hook in webhooks}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            answers = dict(_EVERY_OPERATION)
            parameters = operation.get("parameters", [])
            if "{" in path or any(p.get("in") == "query" and p.get("name") == "page" for p in parameters):
                answers["404"] = _NOT_FOUND
            if method in ("post", "put", "patch", "delete"):
                answers.update(_WITH_BODY)
            for code, description in answers.items():
                responses.setdefault(code, {"description": description, "content": error})
            if path not in ingestion:
                responses.setdefault("429", {**_RATE_LIMITED, "content": error})
    return result
