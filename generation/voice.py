"""The client's voice: a drafted sentence that speaks of the client in the third person, told by the client.

The 1.5B drafter copies its facts' wording, and facts taken from police reports and intake notes speak of
the client as "she", "her", "the client" or "Ms. Torres". Turning those into "I", "me" and "my" is
grammar, not judgement, so it is done here, exactly, instead of by a second model call that may also turn
the abuser's acts into hers ("He took her paychecks" came back as "I took her paychecks"). Only what
certainly means the client is changed: her names and titles, and she/her when no other woman or girl
can be meant. Everything else is left for the guardrails' rewrite, and whatever comes out of either is
still checked by the faithfulness gate.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from generation.faithfulness import client_names, fold, nlp, none_held, outside_quotes, parsed, words

if TYPE_CHECKING:
    from spacy.tokens import Doc, Token

# "I-130" is a form, not the client: a rewrite that kept "told client ... (I-130) for her" passed as hers.
FIRST_PERSON = re.compile(r"\b(I(?!-\d)|my|me|mine|myself|we|our|us)\b", re.IGNORECASE)
_CLIENT_NOUNS = frozenset({"client", "petitioner", "declarant", "applicant", "complainant", "victim"})
_TITLES = frozenset({"ms", "mrs", "miss", "senora", "sra"})
# Words for someone a "she" or "her" could just as well mean: then the pronouns are not touched.
_OTHER_WOMEN = frozenset(
    """daughter mother sister aunt grandmother niece cousin girl woman wife girlfriend friend neighbor neighbour
    officer deputy detective judge doctor nurse therapist counselor advocate teacher""".split()
)
_NOT_PEOPLE = frozenset({"ORG", "FAC", "GPE", "LOC", "PRODUCT", "NORP"})
_QUOTATION = re.compile('"[^"]*"|\u201c[^\u201d]*\u201d')
_AGREEMENT = {"is": "am", "has": "have", "does": "do", "'s": "am"}
# A note's or a medical record's noun for the client before her verb, which the parser misreads ("The
# first incident client remembers was ...": "remembers" a noun; "Patient declines ...": "Patient" an
# adjective): told as "she", which the pronouns' step then tells as "I" when no one else can be meant.
_CLIENT_DOES = re.compile(
    r"\b(?:[Tt]he )?(?:[Cc]lient|[Pp]etitioner|[Pp]atient) (?=(?:remembers|recalls|says|states|reports|describes|"
    r"explains|believes|thinks|knows|feels|declines|denies|endorses|presents|lives|works|wants|fears|agrees)\b)"
)


def abuser_names(record: str) -> list[str]:
    """The abuser's (or trafficker's) names and aliases, from the record text's lines for them."""
    names = []
    for rest in _party_lines(record, "abuser|trafficker"):
        names.append(_line_name(rest))
        aliases = re.search(r"also known as ([^)]+)\)", rest)
        if aliases:
            names += [a.strip() for a in aliases.group(1).split(",") if a.strip()]
    return [n for n in names if n]


def _party_lines(record: str, roles: str) -> list[str]:
    """What the record text says of the parties of these roles ("abuser|trafficker"), a line each."""
    return [m.group("rest") for m in re.finditer(rf"^\s*(?:{roles})\s*:\s*(?P<rest>[^\n]+)$", record, re.I | re.M)]


def _line_name(rest: str) -> str:
    """The name a record line begins with: "Sofía Kessler Torres" of "Sofía Kessler Torres. Born: ..."."""
    return re.split(r"\.\s+[A-Z][\w -]*:|[;(]", rest, maxsplit=1)[0].strip(" .")


def in_client_voice(text: str, *, record: str, female: bool = False) -> str | None:
    """`text` told by the client, or None when there is nothing certain to change (it does not speak of
    the client, or a "she" could mean someone else). A sentence that already speaks in the first person
    has only the client's nouns and names changed ("Client was too afraid to speak because he was standing
    next to me", as the drafter half told it), never a "she". What is quoted is never changed: "Nothing
    happened, she fell." are the abuser's words. `female`: "the female" of a police report is the client
    (a VAWA case whose documents call her spouse her husband)."""
    # A "we" she is quoted as saying ('for her "after we buy a house."') is not her voice.
    mine = FIRST_PERSON.search(outside_quotes(text)) is not None
    text = _CLIENT_DOES.sub(lambda m: "She " if m.group(0)[0].isupper() else "she ", text)
    client = {w for name in client_names(record) for w in words(name)}
    abuser = {w for name in abuser_names(record) for w in words(name)}
    doc = parsed(text)
    quoted = [(m.start(), m.end()) for m in _QUOTATION.finditer(text)]
    mentions = [
        (start, end)
        for start, end in _client_mentions(doc, client, female=female, abuser=frozenset(abuser))
        if not any(a <= doc[start].idx < b for a, b in quoted)
    ]
    named = {i for start, end in mentions for i in range(start, end)}
    hers_until = 0 if mine else _pronouns_hers_until(doc, client, abuser, named)
    changes: dict[int, str] = {}
    # A span replaced by one word: its first token takes the word and its last token's trailing space.
    spans: dict[int, int] = {}
    for start, end in mentions:
        token = _head_of(doc, start, end)
        if token.dep_ in ("nsubj", "nsubjpass"):
            changes[start] = "I"
            _agree(token.head, changes)
        elif end < len(doc) and doc[end].tag_ == "POS":
            changes[start] = "my"
            end += 1  # "the client's" → "my"
        elif token.dep_ in ("dobj", "pobj", "dative", "iobj") and not (mine and token.pos_ == "PROPN"):
            changes[start] = "me"  # not "I am also known as me": her names in her own sentence are hers
        elif mine:
            continue
        else:
            return None  # the client named where a pronoun will not do ("Ana, her aunt's niece")
        spans[start] = end - 1
    for token in doc[:hers_until]:
        if any(a <= token.idx < b for a, b in quoted):
            continue
        lower = token.lower_
        if lower == "she" and token.dep_ in ("nsubj", "nsubjpass"):
            changes[token.i] = "I"
            _agree(token.head, changes)
        elif lower == "her":
            # 'for her "when we have more money."': a quotation is no noun of hers, so "her" is "me" there.
            changes[token.i] = "my" if (token.tag_ == "PRP$" or token.dep_ == "poss") and _owns_next(token) else "me"
        elif lower == "hers":
            changes[token.i] = "mine"
        elif lower == "herself":
            changes[token.i] = "myself"
    if not changes:
        return None
    pieces = []
    i = 0
    while i < len(doc):
        last = spans.get(i, i)
        pieces.append(changes.get(i, doc[i].text) + doc[last].whitespace_)
        i = last + 1
    told = "".join(pieces).strip()
    return told[0].upper() + told[1:]


def _owns_next(her: Token) -> bool:
    """Whether a possessive-looking "her" owns what follows: 'for her "when we have more money."' and "called her
    stupid and useless" (an adjective with no noun after it) are hers to be told "me"; "her left wrist" is "my"."""
    doc = her.doc
    after = doc[her.i + 1] if her.i + 1 < len(doc) else None
    if after is None or not (after.is_alpha or after.is_digit):
        return False
    if after.pos_ == "ADJ":
        return her.i + 2 < len(doc) and doc[her.i + 2].pos_ in ("NOUN", "PROPN", "ADJ", "NUM")
    return True


def _head_of(doc: Doc, start: int, end: int) -> Token:
    """The token of a span that the rest of the sentence hangs on (its head lies outside the span)."""
    for token in doc[start:end]:
        if not start <= token.head.i < end or token.head.i == token.i:
            return token
    return doc[end - 1]


def _client_mentions(
    doc: Doc, client: set[str], *, female: bool = False, abuser: frozenset[str] = frozenset()
) -> list[tuple[int, int]]:
    """Token spans that name the client: "the client", "Client", "Ms. Torres Villanueva", her names, and
    with `female`, "the female" (not "the female caller", not "a female child") and "his wife" in a sentence
    that names her husband (`abuser`: his names' words)."""
    husband_named = any(fold(t.text) in abuser for t in doc)
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(doc):
        token = doc[i]
        lower = fold(token.text).strip(".")
        the_female = female and lower == "female" and i > 0 and doc[i - 1].lower_ == "the"
        # "Daniel Hayes stated that his wife fell": her husband's wife is she.
        his_wife = female and lower == "wife" and i > 0 and doc[i - 1].lower_ == "his" and husband_named
        if (lower in _CLIENT_NOUNS or the_female or his_wife) and token.pos_ in ("NOUN", "PROPN"):
            start = i - 1 if i > 0 and doc[i - 1].lower_ in ("the", "his") else i
            spans.append((start, i + 1))
            i += 1
            continue
        if token.pos_ == "PROPN" or lower in _TITLES:
            end = i
            while end < len(doc) and (doc[end].pos_ == "PROPN" or fold(doc[end].text).strip(".") in _TITLES):
                end += 1
            names = [fold(t.text).strip(".") for t in doc[i:end] if fold(t.text).strip(".") not in _TITLES]
            if names and client and set(names) <= client:
                spans.append((i, end))
            i = max(end, i + 1)
            continue
        i += 1
    return spans


def _pronouns_hers_until(doc: Doc, client: set[str], abuser: set[str], named: set[int]) -> int:
    """Up to which token "she" and "her" can only mean the client: none when someone but her and the abuser
    is the subject of a clause or another woman or girl is spoken of; up to her daughter (her mother..)
    when she becomes the subject: "Her daughter Sofía wakes at night and hides under her bed when she
    hears a man shouting" is her daughter's bed and her daughter's hearing. `named`: the tokens that name
    the client ("his wife")."""
    for token in doc:
        if token.i in named:
            continue
        if token.pos_ == "PROPN":
            folded = fold(token.text).strip(".")
            known = client | abuser | _TITLES | _CLIENT_NOUNS
            # An organisation is no "she" ("Tucson Fire Department Engine 9 evaluated her on scene; she was ...").
            if folded not in known and token.dep_ in ("nsubj", "nsubjpass") and token.ent_type_ not in _NOT_PEOPLE:
                return 0  # "Sofía cried when she saw him": she may be Sofía
        if (
            token.lemma_.lower() in _OTHER_WOMEN
            and token.tag_ not in ("NNS", "NNPS")  # "told the officers that she fell": officers are no "she"
            and token.dep_ in ("nsubj", "nsubjpass", "dobj", "pobj", "dative")
        ):
            # "her daughter" is the client's daughter, but "the officer asked her" might be anyone's "her"
            if not any(c.lower_ == "her" and c.dep_ == "poss" for c in token.children):
                return 0
            if token.dep_ in ("nsubj", "nsubjpass"):
                return token.i
    return len(doc)


def _agree(verb: Token, changes: dict[int, str]) -> None:
    """Make the verb (and the verbs it is joined to, and its auxiliaries) agree with "I": "attends" →
    "attend", "is" → "am", "has" → "have"."""
    chain = [verb]
    for word in chain:  # grows as it goes: "attends ..., works ... and cares" is a chain of conjuncts
        chain += [
            c for c in word.children if c.dep_ == "conj" and not any(g.dep_.startswith("nsubj") for g in c.children)
        ]
    for word in chain:
        targets = [word] + [c for c in word.children if c.dep_ in ("aux", "auxpass")]
        for target in targets:
            if target.tag_ != "VBZ":
                continue
            lower = target.lower_
            changes[target.i] = _AGREEMENT.get(lower, target.lemma_.lower() if target.lemma_ else lower)


# "Client says she married him because she loved him" is the paralegal's frame around the client's words;
# told by her, "I say I married him because I loved him" keeps the frame and reads as a report of a report.
_REPORTING_FRAME = re.compile(
    r"^I (?:say|said|state|stated|report|explain|explained|recall|recalled)(?: that)?,? "
    r"(?=(?:I|he|she|they|we|it|my|his|her|our|their|[A-Z][a-z\u00C0-\u024F]+)\b)"
)


# A therapist's or paralegal's present "she reports nightmares" is what the client has, told by her.
_REPORTS = re.compile(r"^I report (?!that\b|to\b|it\b|him\b|her\b|them\b|this\b)")
# ... but "reports years of abuse by her husband" is what she suffered: "I have years of abuse" is no English.
_REPORTS_YEARS = re.compile(r"^I report (?=(?:years|months|decades) of\b)")
# The frame's second half: "Client says he was patient, and that he was kind" → "..., and he was kind";
# "... evenings and says she wants to" → "... and I want to".
_JOINED_FRAME = re.compile(r"\b(and|but) (?:that|(?:say|said|state|stated)(?: that)?) (?=(?:I|he|she|they|we)\b)")


# ", and that he was kind" with no "that" or verb of saying before it is a frame's second half whose first
# half the drafter already dropped ("He was patient and funny, and that he was kind to my aunt").
_LONE_JOINED_THAT = re.compile(r", (?:and|but) that (?=(?:I|he|she|they|we)\b)")
_SAYING_OR_KNOWING = re.compile(
    r"\b(that|say|says|said|state|states|stated|tell|tells|told|report|reported|explain|explained|know|knew|"
    r"think|thought|believe|believed|feel|felt|remember|remembered|recall|recalled|hope|hoped|promise|promised|"
    r"learn|learned|realize|realized|agree|agreed)\b",
    re.I,
)


def without_reporting_frame(text: str) -> str:
    """The client's words without the frame of who reported them ("I stated Richard is a U.S. citizen" →
    "Richard is a U.S. citizen"; "I report nightmares" → "I have nightmares"), when what follows the frame
    is a clause of its own."""
    rest = _REPORTING_FRAME.sub("", text, count=1)
    rest = _REPORTS.sub("I have ", _REPORTS_YEARS.sub("I have suffered ", rest, count=1), count=1)
    lone = _LONE_JOINED_THAT.search(text)
    frame_half_left = lone is not None and not _SAYING_OR_KNOWING.search(text[: lone.start()])
    if rest == text and not frame_half_left:
        # Only a sentence whose own frame was dropped (here or by the drafter), or that reports the
        # client's words mid-way, loses its "and that": "I left and that was the end" is hers.
        if not re.search(r"\band (?:say|said|state|stated)(?: that)? I\b", text):
            return text
    rest = _JOINED_FRAME.sub(r"\1 ", rest)
    return rest[0].upper() + rest[1:] if rest else text


# Her family, as a police report or an intake note names them without a possessive ("husband was arrested
# per EMS", "a dinner at aunt Rosa's house"): told by her, they are "my husband", "my aunt Rosa".
_KIN = frozenset(
    """husband wife spouse daughter son aunt uncle mother father sister brother cousin grandmother grandfather
    niece nephew parents""".split()
)
# What may stand before a kin word and leave it bare: anything else ("the", "his", "a", "Richard's",
# "younger", "two") already says whose, or which, it is.
_BARE_BEFORE = frozenset({"ADP", "VERB", "AUX", "CCONJ", "SCONJ", "PUNCT"})


def with_her_kin(text: str) -> str:
    """`text` with her family's bare kin words made hers: "Husband was arrested" → "My husband was
    arrested", "at aunt Rosa's house" → "at my aunt Rosa's house". A kin word with a determiner, a
    possessive or a modifier before it is left as it is."""
    if not any(w in _KIN for w in re.findall(r"[a-z]+", text.lower())):
        return text
    doc = nlp()(text)
    inserts = []
    for token in doc:
        if token.lower_ not in _KIN or token.pos_ not in ("NOUN", "PROPN"):
            continue
        before = doc[token.i - 1] if token.i > 0 else None
        if before is not None and (before.pos_ not in _BARE_BEFORE or before.tag_ == "POS" or before.text in "-/"):
            continue
        if any(c.dep_ in ("det", "poss", "nummod", "amod") and c.i < token.i for c in token.children):
            continue
        inserts.append(token.idx)
    if not inserts:
        return _her_kin_in_my_sentence(doc, text) if FIRST_PERSON.search(text) else text
    told = text
    for start in reversed(inserts):
        word = "My " if start == 0 else "my "
        rest = told[start:]
        told = told[:start] + word + (rest[0].lower() + rest[1:] if start == 0 else rest)
    return told


# What only a couple does or has together: an intake note's "they" in such a sentence is the client and
# her spouse ("In July 2015 they moved into an apartment together", "They went out for coffee the next
# week"), and "their daughter" is theirs.
_TOGETHER = re.compile(
    r"\b(together|joint|jointly|both of them|as a couple|married couple|went out|dated|dating|married|engaged|"
    r"marriage license|wedding|honeymoon|first date|(?:where|when|since|before) they (?:first )?met)\b",
    re.I,
)
_THEIR_CHILD = re.compile(r"\b([Tt])heir (daughters?|sons?|child|children|baby)\b")
_BOTH_NAMES = re.compile(r"\bboth names\b")
_COUPLE = {"they": "we", "them": "us", "their": "our", "theirs": "ours", "themselves": "ourselves"}


def as_a_couple(text: str, *, record: str) -> str:
    """A sentence in the third person about what the client and her spouse (the abuser of a VAWA case,
    whom the record names) did or had together, told as "we" and "our": "In July 2015 they moved into an
    apartment together" → "In July 2015 we moved into an apartment together", "Their daughter, Sofía, was
    born ..." → "Our daughter, Sofía, was born ...". Asked for "we" in its prompt, the 1.5B still copied
    "they"; a "they" that could be anyone else (no word says together) is left alone."""
    if FIRST_PERSON.search(text) or not _party_lines(record, "abuser"):
        return text
    told = _THEIR_CHILD.sub(lambda m: ("O" if m.group(1) == "T" else "o") + "ur " + m.group(2), text)
    told = _BOTH_NAMES.sub("both our names", told)  # "The lease was in both names."
    if not _TOGETHER.search(text):
        return told

    def swap(match: re.Match[str]) -> str:
        word = _COUPLE[match.group(0).lower()]
        return word.capitalize() if match.group(0)[0].isupper() else word

    return re.sub(r"\b(?:they|them|their|theirs|themselves)\b", swap, told, flags=re.I)


def with_her_none(text: str) -> str:
    """A verbless "No arrests, no criminal record." told by her: "I have no arrests, no criminal record."."""
    if FIRST_PERSON.search(text) or not none_held(text):
        return text  # "No one called the police" is a sentence of its own
    return "I have no " + text.lstrip()[3:]


def _her_kin_in_my_sentence(doc: Doc, text: str) -> str:
    """ "I stayed with her aunt after the visa expired": the drafter told the sentence as hers but kept the
    note's "her" for her family. When no one is named in it and no other woman or girl spoken of, "her" is hers."""
    hers = [t for t in doc if t.lower_ == "her" and t.dep_ == "poss" and t.head.lower_ in _KIN]
    if not hers:
        return text
    others = [
        t
        for t in doc
        if (t.pos_ == "PROPN" or (t.lemma_.lower() in _OTHER_WOMEN and t.i not in {h.head.i for h in hers}))
    ]
    if others or any(t.lower_ in ("she", "hers", "herself") or (t.lower_ == "her" and t not in hers) for t in doc):
        return text
    told = text
    for token in reversed(hers):
        word = "My" if token.idx == 0 else "my"
        told = told[: token.idx] + word + told[token.idx + 3 :]
    return told


_CHILD_KIN = ("daughter", "son")
_SPOUSE_KIN = ("husband", "wife")
_WHOSE = r"(?:her|his|my|their|the client's|client's|the victim's|patient's)"


def kin_of(record: str, texts: Iterable[str], *, spouse: str = "") -> dict[str, str]:
    """What the client calls the record's child and her spouse, as the case's documents name them:
    {"sofia": "daughter", "richard": "husband"} by first name, folded. A child is what a kin word next to
    the name says ("her daughter Sofía", "Their daughter, Sofía Kessler Torres"); her spouse (`spouse`,
    the abuser of a VAWA case) is the spouse word the documents use of hers ("her husband had choked her").
    A party no document names so is left out: "my daughter" is never guessed."""
    text = fold(" ".join(texts))
    kin: dict[str, str] = {}
    for name in filter(None, map(_line_name, _party_lines(record, "child"))):
        first = fold(name).split()[0]
        counts = {
            word: len(re.findall(rf"\b{word},? {re.escape(first)}\b", text))
            + len(re.findall(rf"\b{re.escape(first)}\b[^.\n]{{0,40}}?\b{_WHOSE} {word}\b", text))
            for word in _CHILD_KIN
        }
        _take_most(kin, first, counts)
    if spouse.strip():
        first = fold(spouse).split()[0]
        counts = {
            word: len(re.findall(rf"\b{_WHOSE} {word}\b|\b{word},? {re.escape(first)}\b", text)) for word in _SPOUSE_KIN
        }
        _take_most(kin, first, counts)
    return kin


def _take_most(kin: dict[str, str], first: str, counts: dict[str, int]) -> None:
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    if ranked and ranked[0][1] and (len(ranked) < 2 or ranked[0][1] > ranked[1][1]):
        kin[first] = ranked[0][0]


_REPORT_LABELS = frozenset({"suspect", "respondent", "defendant", "offender", "perpetrator", "arrestee"})


def with_her_people(text: str, kin: dict[str, str]) -> str:
    """A sentence that does not speak in her voice, naming her child or spouse, told as hers: "Sofía attends
    the Head Start preschool program." → "My daughter Sofía attends ...", "Police came; Richard did the
    talking." → "Police came; my husband Richard did the talking." Only the first mention, only a name
    written as a name (not a report's "KESSLER"), and never one that already says whose it is."""
    if not kin or FIRST_PERSON.search(outside_quotes(text)):
        return text
    quoted = [(m.start(), m.end()) for m in _QUOTATION.finditer(text)]
    for token in parsed(text):
        word = fold(token.text)
        if word not in kin or token.pos_ != "PROPN" or token.text.isupper():
            continue
        before = token.doc[token.i - 1] if token.i > 0 else None
        if before is not None and before.lower_ in _REPORT_LABELS:
            # A report's "Suspect Daniel Hayes was arrested", "The Respondent ...": she calls him her husband.
            label = token.doc[token.i - 2] if token.i > 1 and token.doc[token.i - 2].lower_ == "the" else before
            at = label.idx
            return f"{text[:at]}{'My' if at == 0 else 'my'} {kin[word]} {text[token.idx :]}"
        if before is not None and (before.lower_ in _KIN or before.pos_ in ("DET", "PRON") or before.tag_ == "POS"):
            return text  # "her daughter Sofía", "the Sofía I knew"
        if any(start <= token.idx < end for start, end in quoted):
            continue
        at = token.idx
        return f"{text[:at]}{'My' if at == 0 else 'my'} {kin[word]} {text[at:]}"
    return text


def told_by_client(text: str, *, record: str, kin: dict[str, str] | None = None) -> str:
    """`text` in the client's voice (in_client_voice), without the frame of who reported it, with her
    family as hers (with_her_kin), what she and her spouse did together as "we" (as_a_couple), her
    "No arrests" as "I have no arrests" (with_her_none), and her child and spouse named as hers
    (with_her_people, by `kin`: kin_of)."""
    kin = kin or {}
    told = without_reporting_frame(in_client_voice(text, record=record, female="husband" in kin.values()) or text)
    told = with_her_people(with_her_none(as_a_couple(with_her_kin(told), record=record)), kin)
    return _others_first(told)


# "Client and Richard were married" told by her is "Richard and I were married", not "I and Richard".
_NAME = r"[A-Z][\w\u00C0-\u024F-]*"
_I_AND = re.compile(rf"\bI and ((?:[Mm]y [a-z]+|{_NAME})(?: {_NAME})*)\b(?!')")


def _others_first(text: str) -> str:
    def swap(match: re.Match[str]) -> str:
        other = match.group(1)
        first = other[0].upper() if match.start() == 0 else "m" if other.startswith("My ") else other[0]
        return f"{first}{other[1:]} and I"

    return _I_AND.sub(swap, text)
