"""A well-behaved model for hosts the tests script (tests/faultserver.py's `responder`): it answers
with an instance of the JSON schema the request carries, taking its strings from `strings` by the
name of the property (else a neutral phrase). Integers take the top of their range, except an
`excerpt`, which is 1 (0 means "no excerpt"); a string enum takes its first value (an `actor`:
"client"). And the rows that put such a host behind every stage."""

from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings

from generation.pipeline import stage_routes
from llmops.models import Host, LLMModel, Route, RouteEntry
from tests.faultserver import FaultServer


def scripted_model(server: FaultServer, host_name: str, **host: Any) -> LLMModel:
    """An OpenAI-compatible host served by `server` (its remote model is "scripted"), and its one model."""
    row = Host.objects.create(name=host_name, kind="openai", url=server.url, **host)
    return LLMModel.objects.create(
        name=f"{host_name}-model", host=row, remote_name="scripted", context_length=8192, max_output_tokens=512,
        first_token_timeout_s=10, stall_timeout_s=5, total_timeout_s=30,
    )  # fmt: skip


def route_every_stage_to(model: LLMModel) -> None:
    """Every pipeline stage's route (each judge's too) on `model` alone: nothing else to fall back to."""
    for name in {route for routes in stage_routes().values() for route in routes}:
        RouteEntry.objects.filter(route__name=name).delete()
        RouteEntry.objects.create(route=Route.objects.get(name=name), model=model, position=0)


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


def answer_from_what_was_sent(body: dict[str, Any]) -> str:
    """Facts copied from the excerpts, one sentence each; sentences from the first fact; rewrites in the
    first person: all made of the redacted text the host was sent (placeholders included), as a model would."""
    text = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
    if stage_of(body) == "extract":
        return json.dumps(extract_answer(body, text))
    if stage_of(body) == "draft":
        return json.dumps(draft_answer(body, text))
    fact_line = re.search(r"^\[[FR]\d+\] (.+)$", text, re.M)  # the first fact, as the schema's first id
    facts = re.search(r"Facts: ([^;\n]+)", text)
    sentence = clip(first_person(fact_line.group(1)) if fact_line else "", settings.AFFIANT_SENTENCE_MAX_CHARS)
    rewrite = in_her_voice(re.sub(r"^\(\w+\) ", "", facts.group(1)), text) if facts else sentence
    strings = {"text": sentence, "rewrites": clip(rewrite, settings.AFFIANT_SENTENCE_MAX_CHARS)}
    return schema_answer(body, strings)


def draft_answer(body: dict[str, Any], text: str) -> dict[str, Any]:
    """A sentence for each fact it was given, in its words and the client's voice, as the 1.5B drafts (a
    drafter that wrote the first fact again for each would be cut as a loop)."""
    sentences = body["response_format"]["json_schema"]["schema"]["properties"]["sentences"]
    lines = re.findall(r"^\[([FR]\d+)\] (.+)$", text, re.M)[: sentences.get("maxItems", 12)]
    limit = settings.AFFIANT_SENTENCE_MAX_CHARS
    return {"sentences": [{"facts": [i], "text": clip(first_person(fact), limit)} for i, fact in lines]}


def in_her_voice(fact: str, prompt: str) -> str:
    """A fact about the client told in her voice from her name on (a heading before it is no part of it), as
    an instruct model rewrites it: her name (or its placeholder, or her first name alone) becomes "I"."""
    client = re.search(r"sentence of (.+?)'s declaration", prompt)
    name = client.group(1) if client else ""
    names = [re.escape(n) for n in dict.fromkeys([name, *name.split()[:1]]) if n and not n.startswith("<")]
    return re.sub(r"^.*?(?:" + "|".join([*names, r"<PERSON_\d+>"]) + ")", "I", fact, count=1)


def extract_answer(body: dict[str, Any], text: str) -> dict[str, Any]:
    """Each question answered with the next sentence of the excerpts, until they run out (then 0: none)."""
    sentences = [
        (int(n), sentence)
        for n, passage in re.findall(r'^\[(\d+)\] [^\n]*?: "(.+)"$', text, re.M)
        for sentence in re.split(r"(?<=\.) ", passage)
    ]
    needs = [k for k in body["response_format"]["json_schema"]["schema"]["properties"] if k != "other facts"]
    answer: dict[str, Any] = {}
    for i, need in enumerate(needs):
        n, sentence = sentences[i] if i < len(sentences) else (0, "")
        answer[need] = {
            "excerpt": n,
            "actor": actor_of(sentence),
            "fact": clip(sentence, settings.AFFIANT_FACT_MAX_CHARS),
        }
    answer["other facts"] = []
    return answer


def actor_of(sentence: str) -> str:
    """Who a sentence is about, as a model reads it: an officer's or a court's act is theirs, the rest the
    client's (the excerpts are mostly about her)."""
    lowered = sentence.lower()
    for actor, words in (("police", ("police", "officer")), ("court", ("court", "judge", "order"))):
        if any(w in lowered for w in words):
            return actor
    return "client"


def first_person(fact: str) -> str:
    """A fact said of the client ("The client was born on ...") in her voice, as a drafting model writes it."""
    for third, first in (("The client's ", "My "), ("The client is ", "I am "), ("The client ", "I ")):
        if fact.startswith(third):
            return first + fact[len(third) :]
    return fact


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit + 1].rsplit(" ", 1)[0]
