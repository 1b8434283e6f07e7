"""Bodies from a JSON Schema (the subset the OpenAPI document uses): valid instances, mutated
ones, and a validator that says whether a body is one the schema admits."""

from __future__ import annotations

import random
from typing import Any

from tests.fuzz.hostile import JSON, hostile_scalar, hostile_text, hostile_value, long_digits

Schema = dict[str, Any]


def resolve(schema: Schema, document: Schema) -> Schema:
    while "$ref" in schema:
        node: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def types_of(schema: Schema) -> list[str]:
    kind = schema.get("type")
    if kind is None:
        return ["object"] if "properties" in schema else ["string"]
    return kind if isinstance(kind, list) else [kind]


def valid(rng: random.Random, schema: Schema, document: Schema, ids: list[str]) -> Any:
    """An instance the schema admits, with ids drawn from `ids` where a string will do."""
    schema = resolve(schema, document)
    if "enum" in schema:
        return rng.choice(schema["enum"])
    kind = rng.choice(types_of(schema))
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        return {
            name: valid(rng, sub, document, ids)
            for name, sub in properties.items()
            if name in required or rng.random() < 0.5
        }
    if kind == "array":
        low, high = schema.get("minItems", 0), min(schema.get("maxItems", 4), 8)
        items = schema.get("items", {"type": "string"})
        return [valid(rng, items, document, ids) for _ in range(rng.randint(low, max(low, high)))]
    if kind == "integer":
        low, high = schema.get("minimum", 0), schema.get("maximum", 10**6)
        return rng.randint(low, high)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    limit = schema.get("maxLength", 64)
    word = rng.choice(ids) if ids and rng.random() < 0.7 else f"id-{rng.randrange(10**6)}"
    return word[:limit]


def mutate(rng: random.Random, value: Any, schema: Schema, document: Schema) -> Any:
    """One hostile change somewhere in the instance: a wrong type, a bound crossed, a field
    dropped or added, a hostile string or number."""
    schema = resolve(schema, document)
    kind = types_of(schema)[0]
    if isinstance(value, dict) and value and rng.random() < 0.6:
        name = rng.choice(sorted(value, key=repr))  # keys may be of mixed types
        sub = schema.get("properties", {}).get(name, {})
        changed = dict(value)
        roll = rng.random()
        if roll < 0.15:
            del changed[name]
        elif roll < 0.25:
            changed[hostile_text(rng)[:64] or "x"] = hostile_value(rng, JSON)
        else:
            changed[name] = mutate(rng, value[name], sub, document)
        return changed
    if isinstance(value, list) and value and rng.random() < 0.6:
        changed_list = list(value)
        where = rng.randrange(len(changed_list))
        if rng.random() < 0.2:
            changed_list += changed_list  # repeated entries, and perhaps past maxItems
        else:
            changed_list[where] = mutate(rng, value[where], schema.get("items", {}), document)
        return changed_list
    roll = rng.random()
    if kind == "integer" and roll < 0.5:
        below, above = schema.get("minimum", 0) - 1, schema.get("maximum", 2**63) + 1
        return rng.choice(
            [below, above, 2**63, 2**64, -(2**63) - 1, 10**30, 1.5, "7", True, long_digits(rng)]
        )
    if kind == "string" and roll < 0.5:
        limit = schema.get("maxLength", 64)
        return rng.choice(["x" * (limit + 1), "", " ", hostile_text(rng), "alice\n", "a:b"])
    if roll < 0.8:
        return hostile_scalar(rng, JSON)
    return hostile_value(rng, JSON)


def admits(value: Any, schema: Schema, document: Schema) -> bool:
    schema = resolve(schema, document)
    if "enum" in schema and value not in schema["enum"]:
        return False
    if not any(_is_type(value, kind) for kind in types_of(schema)):
        return False
    if isinstance(value, dict):
        if not set(schema.get("required", [])) <= set(value):
            return False
        properties = schema.get("properties", {})
        return all(admits(v, properties[k], document) for k, v in value.items() if k in properties)
    if isinstance(value, list):
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", 10**9):
            return False
        return all(admits(item, schema.get("items", {}), document) for item in value)
    if isinstance(value, str):
        length_max: int = schema.get("maxLength", 10**9)
        return len(value) <= length_max
    if isinstance(value, int) and not isinstance(value, bool):
        minimum: int = schema.get("minimum", -(10**99))
        maximum: int = schema.get("maximum", 10**99)
        return minimum <= value <= maximum
    return True


def _is_type(value: Any, kind: str) -> bool:
    checks: dict[str, Any] = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
    }
    return bool(checks.get(kind, lambda v: True)(value))
