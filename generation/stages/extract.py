"""Stage 1, extract: the facts a section needs, each tied to the passage (chunk) that states it.

First the passages' own sentences that hold a need's words (SectionSpec.look_for: "father", "mother" for
"my parents and what they did") become facts of that need, whole, as the document wrote them. The model is
asked only for the needs left: it answers each as JSON under a schema (the grammar makes any other answer
impossible): the number of the excerpt that answers it, 0 when none does, who did, said or holds it (its
actor), and the fact in a short sentence. Needs the case record answers are not asked (generation.record).
A fact whose excerpt does not back it (generation.faithfulness.check_fact: its names, places, dates and
numbers are the excerpt's, and it does not reverse it) is not kept; its need is listed as missing, for the
attorney to ask the client about.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from django.conf import settings

from generation.declarations import SectionSpec
from generation.faithfulness import (
    check_fact,
    client_names,
    fold,
    name_tokens,
    none_held,
    not_narrative,
    outside_dates,
    outside_quotes,
    parsed,
    settled_pieces,
    swapped_doer_problems,
)
from generation.stages.common import (
    content_terms,
    excerpt_lines,
    int_enum,
    split_sentences,
    squash,
    text_field,
    tokens_for,
    whole_pieces,
)
from generation.voice import FIRST_PERSON
from llmops.providers.base import Message

if TYPE_CHECKING:
    from spacy.tokens import Doc

# Further facts the section may use beyond its needs (one incident more, a name, a place).
MORE_FACTS = 3
# Facts a section takes from its passages' sentences that hold a need's words (SectionSpec.look_for), at
# most this many a need and a section: the draft writes at most draft.MAX_SENTENCES sentences.
LOOKED_FOR_PER_NEED = 2
LOOKED_FOR_PER_SECTION = 8
# A need for every time something happened ("each time he hit, slapped, pushed or choked me, and when")
# takes more: the bench's first two were the ER's and the police report's account of one night, and the
# intake's slap and split lip were left out.
LOOKED_FOR_PER_EACH = 4
_SUBJECTS = frozenset({"nsubj", "nsubjpass", "csubj", "expl"})
# A sentence whose content words are mostly a fact's already says that fact.
_ALREADY_SAID = 0.5
# Words in the longest sentence taken as it stands: a longer one is a form's lines run together.
_LONGEST = 50


# Who did, said or holds what a fact states. A first-person sentence may only state the client's own acts,
# words, feelings and status: the abuser's (or a trafficker's), the court's or the police's never become "I".
ACTORS = ("client", "abuser", "child", "witness", "police", "court", "medical", "other")


def schema(section: SectionSpec, passages: int) -> dict[str, Any]:
    # `actor` comes before `fact` (the grammar keeps the order of `required`): the model says who before
    # it writes what.
    def item(excerpts: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "excerpt": excerpts,
                "actor": {"type": "string", "enum": list(ACTORS)},
                "fact": text_field(settings.AFFIANT_FACT_MAX_CHARS),
            },
            "required": ["excerpt", "actor", "fact"],
            "additionalProperties": False,
        }

    answer, more = item(int_enum(passages, lower=0)), item(int_enum(passages))
    properties: dict[str, Any] = {need: answer for need in section.needs}
    properties["other facts"] = {"type": "array", "items": more, "maxItems": MORE_FACTS}
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def max_tokens(section: SectionSpec) -> int:
    items = len(section.needs) + MORE_FACTS
    return tokens_for(items * (settings.AFFIANT_FACT_MAX_CHARS + 60) + 40)


def build_messages(*, client_name: str, section: SectionSpec, evidence: list[dict[str, Any]]) -> list[Message]:
    questions = "; ".join(section.needs)
    instructions = (
        f'Facts for the section "{section.heading}" of the declaration of {client_name}, taken only from the '
        "excerpts above. For each question: the number of the excerpt that answers it (0 when no excerpt "
        "does), the actor (who did, said or holds it; a trafficker is the abuser) and the fact in one short "
        "sentence in the excerpt's own words, with its dates, places and names, saying who did it."
        f"\nQuestions: {questions}"
    )
    return [
        Message(role="system", content="Case file excerpts:\n{evidence}", evidence=excerpt_lines(evidence)),
        Message(role="user", content=f"{instructions}\nAnswer as JSON:"),
    ]


def parse(
    answer: dict[str, Any],
    section: SectionSpec,
    evidence: list[dict[str, Any]],
    record: str = "",
    known: list[dict[str, Any]] | None = None,
) -> tuple[list[dict], list[str]]:
    """The facts the evidence backs, numbered on from the `known` facts' (F1..), each with its actor, and
    the needs left unanswered. `record` is the case record's text (generation.record.record_text), where
    a fact's names may also be; a fact a known one already states (a sentence looked for) is not kept twice."""
    by_n = {e["n"]: e for e in evidence}
    candidates: list[tuple[str | None, Any]] = [(need, answer.get(need)) for need in section.needs]
    others = answer.get("other facts")
    candidates += [(None, item) for item in (others if isinstance(others, list) else [])]
    facts: list[dict[str, Any]] = []
    missing: list[str] = []
    known = known or []
    said = [content_terms(f["text"]) for f in known if f.get("source") == "evidence"]
    seen: set[str] = set()
    first = _next_number(known)
    client = client_names(record)
    client_tokens = name_tokens(client)
    for need, item in candidates:
        fact = _backed_fact(_unechoed(item, need), by_n, record)
        if fact is not None and need is not None and not fits_need(need, parsed(fact[0]), client_tokens):
            fact = None  # an answer about someone else than the need asks of
        if fact is None:
            if need is not None:
                missing.append(need)
            continue
        text, source = fact
        terms = content_terms(text)
        if text.lower() in seen or (terms and _said(terms, said)):
            continue  # one fact answering two needs is kept once, and a sentence looked for is not told again
        seen.add(text.lower())
        # One actor a fact: a passage's sentences about the client and an officer's "I observed" in one
        # answer become two facts of the same need, so the gate judges each by its own doer.
        for piece, actor in settled_pieces(text, actor_of(item), source["text"], client):
            facts.append(_fact(first + len(facts), need, actor, piece, source))
    return facts, missing


def looked_for_facts(
    section: SectionSpec, evidence: list[dict[str, Any]], known: list[dict[str, Any]], record: str = ""
) -> list[dict[str, Any]]:
    """The facts of the passages' sentences that hold a need's words (looked_for), numbered on from the
    `known` facts', each with the actor its words settle to (the model labels none of them)."""
    client = client_names(record)
    first = _next_number(known)
    facts: list[dict[str, Any]] = []
    for need, text, source in looked_for(section, evidence, [f["text"] for f in known], record):
        for piece, actor in settled_pieces(text, "other", source["text"], client):
            facts.append({**_fact(first + len(facts), need, actor, piece, source), "looked_for": True})
    return facts


def unanswered(section: SectionSpec, facts: list[dict[str, Any]]) -> SectionSpec:
    """The section with only the needs no sentence looked for answers: those the model is asked."""
    answered = {f["need"] for f in facts if f.get("looked_for")}
    return replace(section, needs=tuple(need for need in section.needs if need not in answered))


def _next_number(known: list[dict[str, Any]]) -> int:
    return sum(1 for f in known if str(f.get("id", "")).startswith("F")) + 1


def _fact(number: int, need: str | None, actor: str, text: str, source: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"F{number}",
        "n": source["n"],
        "need": need,
        "actor": actor,
        "source": "evidence",
        "text": text,
        "chunk_id": source.get("chunk_id"),
        "document_id": source["document_id"],
        "document_name": source["document_name"],
        "page": source["page"],
    }


def looked_for(
    section: SectionSpec, evidence: list[dict[str, Any]], said: list[str], record: str = ""
) -> list[tuple[str, str, dict[str, Any]]]:
    """(need, sentence, passage) for the passages' sentences that hold the words a need is answered in
    (SectionSpec.look_for) and that no fact in `said` already states, in the passages' order (best ranked
    first). The sentence is the document's own, whole: the model need not have written it, only the
    draft tells it in the client's voice, and the gate checks what the draft makes of it."""
    said_terms = [content_terms(text) for text in said]
    client_tokens = name_tokens(client_names(record))
    found: list[tuple[str, str, dict[str, Any]]] = []
    per_need: dict[str, int] = {}
    for source in evidence:
        residences = _RESIDENCES.search(source["text"]) is not None
        for line in (_unheaded(s) for s in split_sentences(source["text"])):
            sentence = _lived_at(line) if residences else line
            if len(found) >= LOOKED_FOR_PER_SECTION:
                return found
            terms = content_terms(sentence)
            if not 4 <= len(sentence.split()) <= _LONGEST or not terms or _said(terms, said_terms):
                continue
            if not_narrative(sentence) or FIRST_PERSON.search(outside_quotes(sentence)):
                # An intake form's header line, a text message: never the client's story. An officer's or
                # a therapist's own "I" ("in individual therapy with me") would become the client's.
                continue
            doc = parsed(sentence)
            if not any(t.dep_ in _SUBJECTS for t in doc) and not none_held(sentence):
                # A note's or a form's line with no subject ("RESIDENCES 1) 2245 East Calle Lucero, ... - July
                # 2015 to May 2018", "CT angiogram of the neck: no vascular injury") is shorthand, which the
                # drafter copied as it stood; the model, asked for the need, writes a sentence of it.
                continue
            words = _words_and_lemmas(doc)
            need = next((n for n, cues in section.look_for if per_need.get(n, 0) < _most_for(n)
                         and _holds(words, cues) and fits_need(n, doc, client_tokens)), None)  # fmt: skip
            if need is None or check_fact(line, passage=source["text"], record=record):
                continue
            per_need[need] = per_need.get(need, 0) + 1
            said_terms.append(terms)
            found.append((need, sentence, source))
    return found


# Who a need is about, and who a sentence's subject is. "Her father, Ernesto Ramirez, worked in construction"
# holds "my work"'s words but is her father's work; "Maria grew up in Quetzaltenango", the 1.5B's answer to
# "where he was born", is her life, not his (both on the demo case).
_FAMILY = frozenset(
    """daughter son aunt uncle mother father sister brother cousin grandmother grandfather niece nephew parent
    child""".split()
)
_DWELLING = frozenset("address apartment apt house home live move lease rent street room shelter".split())
_ABOUT_HIM = re.compile(r"\b(?:he|his|him)\b")
_ABOUT_ME = re.compile(r"\b(?:I|me|my|we|our)\b")
_ABOUT_FAMILY = re.compile(r"\b(?:parents?|mother|father|brothers?|sisters?|children|child|family|kin)\b")


def fits_need(need: str, doc: Doc, client_tokens: frozenset[str]) -> bool:
    """Whether a sentence's subject is whom `need` is about: a sentence whose subject is her family answers
    only a need about her family, and one whose subject is the client by name never a need about him alone;
    an address is a number or a home."""
    if "address" in need:
        if not re.search(r"\d", outside_dates(doc.text)) and not any(t.lemma_.lower() in _DWELLING for t in doc):
            return False  # "each later address where we lived": the 1.5B answered with where he proposed
    root = next((t for t in doc if t.dep_ == "ROOT"), None)
    subject = next((c for c in root.children if c.dep_ in ("nsubj", "nsubjpass")), None) if root else None
    if subject is None:
        return True
    if subject.lemma_.lower() in _FAMILY and not _ABOUT_FAMILY.search(need):
        return False
    about_him = _ABOUT_HIM.search(need) and not _ABOUT_ME.search(need)
    return not (about_him and fold(subject.text) in client_tokens | {"client"})


def _most_for(need: str) -> int:
    if need.startswith("the first "):
        return 1  # "the first address where we lived together": the next is a later one
    return LOOKED_FOR_PER_EACH if need.startswith("each ") else LOOKED_FOR_PER_NEED


# An intake's list of her addresses: "RESIDENCES\n1) 2245 East Calle Lucero, Apt 6, Tucson, AZ 85719 - July 2015
# to May 2018." is a line with no subject, which the drafter copied as it stood ("... in both our names. 2) 918
# West ..."), and the model, asked for it, wrote "The client moved into an apartment together in September 2015".
# Under such a heading (a chunk runs it into the first item) each item says where the client lived, and when.
_RESIDENCES = re.compile(
    r"(?:^|\s)(?:RESIDENCES|RESIDENCE HISTORY|ADDRESS(?:ES| HISTORY)|PLACES LIVED)(?:\s*:)?\s+(?=1\))|"
    r"^\s*(?i:residences|residence history|address(?:es| history)|places lived)\s*:?\s*$",
    re.M,
)
_WHEN = r"(?:[A-Z][a-z]+ (?:\d{1,2}, )?)?\d{4}"
_ADDRESS_ITEM = re.compile(
    rf"^(?:[A-Z][A-Z ]+ )?\d{{1,2}}\)\s+(?P<place>[^-\u2013]*\d[^-\u2013]*?)\s+[-\u2013]\s+"
    rf"(?P<since>{_WHEN}) (?:to|until|-) (?P<until>{_WHEN}|present|now|today)\.?$"
)


def _lived_at(sentence: str) -> str:
    """ "2) 918 West Saguaro Vista Drive, Tucson, AZ 85745 - May 2018 to April 23, 2021." → "Client lived at
    918 West Saguaro Vista Drive, Tucson, AZ 85745 from May 2018 to April 23, 2021."; any other line as it is."""
    item = _ADDRESS_ITEM.match(sentence)
    if item is None:
        return sentence
    until = item.group("until")
    when = (
        f"since {item.group('since')}"
        if until in ("present", "now", "today")
        else f"from {item.group('since')} to {until}"
    )
    return f"Client lived at {item.group('place').rstrip(',')} {when}."


def _said(terms: set[str], said_terms: list[set[str]]) -> bool:
    return any(len(terms & other) / len(terms) >= _ALREADY_SAID for other in said_terms)


def _words_and_lemmas(parsed: Doc) -> list[tuple[str, str]]:
    """Each word of the sentence, folded, as written and as its lemma (parsed once for all of a section's cues)."""
    return [(fold(t.text).strip(), fold(t.lemma_).strip()) for t in parsed if not t.is_punct]


def _holds(tokens: list[tuple[str, str]], cues: str) -> bool:
    """Whether the sentence's words (_words_and_lemmas) hold one of the cues (comma-separated words or
    phrases), each word matched as written or as its lemma ("slap" holds "slapped"; "broke my" holds only
    those words)."""
    for cue in (c.strip() for c in cues.split(",")):
        wanted = fold(cue).split()
        if wanted and any(
            all(wanted[k] in tokens[i + k] for k in range(len(wanted))) for i in range(len(tokens) - len(wanted) + 1)
        ):
            return True
    return False


# A document's section heading run into its first sentence: "BACKGROUND Client was born ...",
# "ABUSE - HISTORY (client's account) Client started ...". A capitalised name that is the subject
# ("KESSLER stated ...") is followed by a word in lower case, and stays.
_HEADING = re.compile(r"^(?:[A-Z][A-Z'&/-]+(?:\s+[-/&]|\s+\([^)]*\))*\s+)+(?=[A-Z][a-z])")


# A note's paragraph label run into its first sentence: "Physical abuse: On November 18, 2018 Daniel pushed
# Maria ...", "Marriage: They married ...". A sender's name before a message ("Danny: Where is your check.")
# is a name, and stays for the transcript check to see.
_LABEL = re.compile(r"^([A-Z][a-z'-]+(?: [a-z'-]+){0,3}):\s+(?=[A-Z])")


def _unheaded(sentence: str) -> str:
    sentence = _HEADING.sub("", sentence, count=1)
    label = _LABEL.match(sentence)
    if label and " " not in label.group(1):
        word = parsed(sentence)[0]
        if word.pos_ == "PROPN" or word.ent_type_:
            return sentence
    return sentence[label.end() :] if label else sentence


def _backed_fact(item: Any, by_n: dict[int, dict[str, Any]], record: str = "") -> tuple[str, dict[str, Any]] | None:
    """The fact and the excerpt that backs it. A small model often names the wrong excerpt (or none)
    for a fact it copied correctly: the one it named is tried first, then the others, best overlap first.
    A name or date the excerpt lacks may come from the case record's text (`record`)."""
    if not isinstance(item, dict):
        return None
    text = " ".join(whole_pieces(clean_fact(str(item.get("fact") or "")), settings.AFFIANT_FACT_MAX_CHARS))
    if len(text.split()) < 2:
        return None
    # An act the fact gives to another doer than every excerpt that tells it does is not backed by any
    # of them ("Client says he married him" copied from one excerpt, cited as another that says "married").
    if swapped_doer_problems(text, "\n".join(e["text"] for e in by_n.values()), client_names(record)):
        return None
    named = by_n.get(item.get("excerpt"))  # type: ignore[arg-type]
    others = sorted(
        (e for e in by_n.values() if e is not named),
        key=lambda e: -len(content_terms(text) & content_terms(e["text"])),
    )
    for source in ([named] if named else []) + others:
        if not check_fact(text, passage=source["text"], record=record):
            return text, source
    return None  # the model wrote something no excerpt says


def _unechoed(item: Any, need: str | None) -> Any:
    """The answer without its question echoed before it: "My injuries: The client broke her left wrist."
    (the 1.5B on the bench), which the draft told as "I left, and where I went: Protective order ..."."""
    if not (need and isinstance(item, dict) and isinstance(item.get("fact"), str)):
        return item
    echo = _ECHO.match(item["fact"].strip())
    if echo:
        asked, said = set(need.lower().split()), echo.group(1).lower().split()
        if sum(w in asked for w in said) >= 0.6 * len(said):
            return {**item, "fact": item["fact"].strip()[echo.end() :]}
    return item


# A label before a colon, and then a sentence: "My injuries: The client ...".
_ECHO = re.compile(r"^([^:.]{3,80}):\s+(?=[A-Z])")


def actor_of(item: Any) -> str:
    """The actor the model named for a fact; "other" when it named none the schema allows."""
    actor = item.get("actor") if isinstance(item, dict) else None
    return actor if actor in ACTORS else "other"


def clean_fact(text: str) -> str:
    return _unheaded(squash(re.sub(r"<[^>]*>", " ", text)).strip(" ,;"))
