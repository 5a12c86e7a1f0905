"""A well-behaved model for hosts the tests script (tests/faultserver.py's `responder`): it answers
with an instance of the JSON schema the request carries, taking its strings from `strings` by the
name of the property (else a neutral phrase). Integers take the top of their range, except an
`excerpt`, which is 1 (0 means "no excerpt")."""

from __future__ import annotations

import json
from typing import Any


def schema_answer(body: dict[str, Any], strings: dict[str, str]) -> str:
    schema = body["response_format"]["json_schema"]["schema"]
    return json.dumps(instance(schema, "", strings))


def instance(schema: dict[str, Any], name: str, strings: dict[str, str]) -> Any:
    if "enum" in schema:
        values = schema["enum"]
        if name == "excerpt" and 1 in values:
            return 1
        return values[-1] if schema.get("type") == "integer" else values[0]
    kind = schema.get("type")
    if kind == "object":
        return {key: instance(sub, key, strings) for key, sub in schema.get("properties", {}).items()}
    if kind == "array":
        wanted = schema.get("minItems", 0) or (1 if name == "sentences" else 0)
        return [instance(schema["items"], name, strings) for _ in range(wanted)]
    if kind == "string":
        return strings.get(name, "Clear and supported.")
    return schema.get("minimum", 1)


def stage_of(body: dict[str, Any]) -> str:
    """Which pipeline stage a request comes from, told by its schema's properties."""
    properties = body.get("response_format", {}).get("json_schema", {}).get("schema", {}).get("properties", {})
    for stage, marker in (("extract", "other facts"), ("draft", "sentences"), ("guardrails", "rewrites")):
        if marker in properties:
            return stage
    return "judge"
