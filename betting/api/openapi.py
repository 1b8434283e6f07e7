"""The admin API's OpenAPI document, served at /admin/openapi.json."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}
_ID = {
    "type": "string",
    "pattern": "^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$",
    "description": "1 to 128 ASCII letters, digits and _ . @ -, starting with a letter or digit",
}
_ACCEPTED = {
    "202": {
        "description": (
            "Written to the races topic; the engine applies or refuses it. What it did is at "
            "`result` (GET /admin/commands/{request_id}), also in the Location header."
        ),
        "headers": {"Location": {"schema": {"type": "string"}}},
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
                "required": ["race_id", "request_id", "status", "result"],
                "properties": {
                    "race_id": _ID,
                    "request_id": _ID,
                    "status": {
                        "enum": ["pending", "applied"],
                        "description": "applied: a retry of a command applied already",
                    },
                    "result": {"type": "string", "description": "/admin/commands/{request_id}"},
                },
            },
            "CommandResult": {
                "type": "object",
                "required": ["request_id", "race_id", "command", "status", "reason", "detail"],
                "properties": {
                    "request_id": _ID,
                    "race_id": {"type": "string"},
                    "command": {
                        "enum": ["create", "open", "suspend", "resume", "start", "close",
                                 "result", "void", ""],
                    },
                    "status": {"enum": ["pending", "applied", "refused"]},
                    "reason": {
                        "description": "Why the engine refused it; null unless refused.",
                        "enum": [
                            "ILLEGAL_TRANSITION", "INVALID_VALUE", "UNKNOWN_RACE",
                            "RACE_EXISTS", "INVALID", None,
                        ],
                    },
                    "detail": {"type": "string", "description": "The refusal in words."},
                    "at_ms": {"type": "integer", "description": "When decided (or logged)."},
                },
            },
            "Runner": {
                "type": "object",
                "required": ["runner_id", "name"],
                "properties": {
                    "runner_id": _ID,
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
                            "race_id": _ID,
                            "name": {"type": "string", "maxLength": 200},
                            "runners": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": 30,
                                "items": {"$ref": "#/components/schemas/Runner"},
                            },
                            "scheduled_start_ms": {"type": "integer", "minimum": 0},
                            "margin_bp": {"type": "integer", "minimum": 0, "maximum": 5000},
                            "request_id": _ID,
                        },
                    }
                ),
                "responses": _ACCEPTED,
            },
            "get": {"summary": "Races with odds and book", "responses": _READ},
        },
        "/admin/races/{race_id}": {
            "get": {
                "summary": "One race's book; once decided, the house's figures too",
                "responses": _READ,
            }
        },
        "/admin/races/{race_id}/bets": {
            "get": {"summary": "A page of a race's bets, from the bet history", "responses": _READ}
        },
        "/admin/races/{race_id}/{action}": {
            "post": {
                "summary": "open, suspend, resume, start, close, result, void, withdraw",
                "parameters": [
                    {"name": "race_id", "in": "path", "required": True},
                    {
                        "name": "action",
                        "in": "path",
                        "required": True,
                        "schema": {
                            "enum": [
                                "open", "suspend", "resume", "start", "close", "result", "void",
                                "withdraw",
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
                                    "placings": {
                                        "type": "array",
                                        "minItems": 1,
                                        "uniqueItems": True,
                                        "items": _ID,
                                        "description": (
                                            "result: runner ids of the race, winner first, each "
                                            "running and placed once (else 422)"
                                        ),
                                    },
                                    "dead_heats": {
                                        "type": "array",
                                        "items": {"type": "array", "minItems": 2, "items": _ID},
                                        "description": (
                                            "result: groups of placed runners tied for one "
                                            "place, each group next to each other in placings; "
                                            "a winning bet on a tie for first is paid on its "
                                            "stake divided by the group's size"
                                        ),
                                    },
                                    "runner_id": {
                                        **_ID,
                                        "description": (
                                            "withdraw: a running runner; its bets are refunded "
                                            "and Rule 4 applies to the others"
                                        ),
                                    },
                                    "reason": {"type": "string", "maxLength": 200},
                                    "seed": {"type": "integer", "minimum": 0},
                                    "request_id": _ID,
                                },
                            }
                        }
                    }
                },
                "responses": _ACCEPTED,
            }
        },
        "/admin/users/{user_id}/bets": {"get": {"summary": "A user's bets", "responses": _READ}},
        "/admin/users/{user_id}/bets/{bet_id}": {
            "get": {"summary": "A bet: its bettor and their bet id", "responses": _READ}
        },
        "/admin/stats": {"get": {"summary": "Bets/s, acceptance rate", "responses": _READ}},
        "/admin/commands/{request_id}": {
            "get": {
                "summary": "What the engine did with a command: pending, applied or refused",
                "parameters": [
                    {"name": "request_id", "in": "path", "required": True, "schema": _ID}
                ],
                "responses": {
                    "200": {
                        "description": "The latest result under this request id.",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/CommandResult"}
                            }
                        },
                    },
                    "401": _ACCEPTED["401"],
                    "403": _ACCEPTED["403"],
                    "404": {
                        "description": "Not known here: never sent, or older than the last "
                        "admin.command_results_max.",
                        "content": {"application/json": {"schema": _ERROR}},
                    },
                    "422": _ACCEPTED["422"],
                },
            }
        },
    },
}  # fmt: skip
