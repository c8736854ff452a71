"""The building blocks of the OpenAPI document: references, JSON bodies, the error shapes."""

from __future__ import annotations

from typing import Any


def ref(kind: str, name: str) -> dict[str, str]:
    """Refer to a component: ref("schemas", "Post")."""
    return {"$ref": f"#/components/{kind}/{name}"}


def json_content(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """A response with a JSON body of this schema."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error(description: str) -> dict[str, Any]:
    """A response with the one error body."""
    return json_content(ref("schemas", "Error"), description)


def closed_object(properties: dict[str, Any]) -> dict[str, Any]:
    """An object schema with exactly these properties, all required."""
    return {
        "type": "object",
        "required": list(properties),
        "additionalProperties": False,
        "properties": properties,
    }


def header(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """A response header, a string unless the schema says otherwise."""
    return {"description": description, "schema": schema or {"type": "string"}}


def operation(
    summary: str, ok: dict[str, Any], method: str = "get", status: str = "200", **errors: str
) -> dict[str, Any]:
    """One method of a path: its success response and the named error responses by status."""
    responses: dict[str, Any] = {status: ok}
    responses.update({code: ref("responses", name) for code, name in errors.items()})
    return {method: {"summary": summary, "responses": responses}}


def error_schema(**extra: Any) -> dict[str, Any]:
    """The one error body: {"error": {"status": ..., "message": ..., **extra}}."""
    return closed_object(
        {
            "error": closed_object(
                {
                    "status": {"type": "integer", "description": "The HTTP status code."},
                    "message": {"type": "string", "description": "What went wrong, for people."},
                    **extra,
                }
            )
        }
    )
