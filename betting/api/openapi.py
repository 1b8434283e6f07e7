"""The admin API's OpenAPI document, served at /admin/openapi.json."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}
_ACCEPTED = {
    "202": {
        "description": "Written to the races topic; the engine applies it.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}},
    },
    "401": {"description": "No bearer token.", "content": {"application/json": {"schema": _ERROR}}},
    "403": {"description": "Wrong token.", "content": {"application/json": {"schema": _ERROR}}},
    "404": {"description": "No such race.", "content": {"application/json": {"schema": _ERROR}}},
    "409": {"description": "Illegal now.", "content": {"application/json": {"schema": _ERROR}}},
    "413": {"description": "Body too large.", "content": {"application/json": {"schema": _ERROR}}},
    "422": {"description": "Invalid field.", "content": {"application/json": {"schema": _ERROR}}},
}
_READ = {
    "200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}},
    "401": _ACCEPTED["401"],
    "403": _ACCEPTED["403"],
}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


ADMIN_OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "betting admin API", "version": "1"},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object",
                "properties": {
                    "error": {
                        "type": "object",
                        "properties": {
                            "status": {"type": "integer"},
                            "message": {"type": "string"},
                        },
                    }
                },
            },
            "Accepted": {
                "type": "object",
                "properties": {"race_id": {"type": "string"}, "request_id": {"type": "string"}},
            },
            "Runner": {
                "type": "object",
                "required": ["runner_id", "name"],
                "properties": {
                    "runner_id": {"type": "string", "maxLength": 64},
                    "name": {"type": "string", "maxLength": 100},
                    "rating": {"type": ["integer", "null"], "minimum": 1},
                },
            },
        },
    },
    "security": [{"bearer": []}],
    "paths": {
        "/admin/races": {
            "post": {
                "summary": "Create a race",
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["name", "runners", "scheduled_start_ms"],
                        "properties": {
                            "race_id": {"type": "string", "maxLength": 64},
                            "name": {"type": "string", "maxLength": 200},
                            "runners": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": 30,
                                "items": {"$ref": "#/components/schemas/Runner"},
                            },
                            "scheduled_start_ms": {"type": "integer", "minimum": 0},
                            "margin_bp": {"type": "integer", "minimum": 0, "maximum": 5000},
                            "request_id": {"type": "string", "maxLength": 64},
                        },
                    }
                ),
                "responses": _ACCEPTED,
            },
            "get": {"summary": "Races with odds and book", "responses": _READ},
        },
        "/admin/races/{race_id}": {"get": {"summary": "One race's book", "responses": _READ}},
        "/admin/races/{race_id}/{action}": {
            "post": {
                "summary": "open, suspend, resume, start, close, result, void",
                "parameters": [
                    {"name": "race_id", "in": "path", "required": True},
                    {
                        "name": "action",
                        "in": "path",
                        "required": True,
                        "schema": {
                            "enum": [
                                "open", "suspend", "resume", "start", "close", "result", "void"
                            ]
                        },
                    },
                ],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "placings": {"type": "array", "items": {"type": "string"}},
                                    "reason": {"type": "string"},
                                    "seed": {"type": "integer"},
                                    "request_id": {"type": "string"},
                                },
                            }
                        }
                    }
                },
                "responses": _ACCEPTED,
            }
        },
        "/admin/bets/{bet_id}": {"get": {"summary": "A bet", "responses": _READ}},
        "/admin/users/{user_id}/bets": {"get": {"summary": "A user's bets", "responses": _READ}},
        "/admin/stats": {"get": {"summary": "Bets/s, acceptance rate", "responses": _READ}},
    },
}  # fmt: skip
