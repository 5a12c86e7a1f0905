"""The faithfulness gate: a sentence of a sworn declaration is kept only when it says what its sources say.

Deterministic and fast (no model is asked): spaCy's small English model parses the sentence, and plain
rules compare it with its cited passages, the text of its cited facts and the case record. What is
checked, in the order the reasons are given:

- contact details and record numbers (phones, e-mails, A-numbers, case numbers) are never narrative;
  a message transcript (sender labels, timestamps) is never pasted as narrative; a quoted message's
  words must be in the sources;
- every name, place and organisation must occur in the sources (accents, case and possessives aside;
  a first name alone matches a full name); every date is compared as a whole date ("June 10, 2017" =
  "6/10/2017" = "2017-06-10"; a month-year or a year alone matches a date with that month or year; a
  date is never matched by its numbers found elsewhere); every other number must be in the sources;
- an allegation (rape, strangling, a weapon, an arrest, abuse...) must be one the sources make; harm
  told as an act ("I was hit", "he pushed me", "I was abused") and a court's act ("the court granted me
  an order") must be stated by a cited fact: names shared with the record are not enough;
- a sentence does not reverse its source ("I was not treated" against a diagnosis);
- who did it: "I" as the subject of an act or a status ("I called the police", "I am a U.S. citizen")
  needs a cited fact whose actor is the client, and an act its facts give to someone else is not the
  client's; nor is an act or a quality its facts' own words (or its passages') give only to someone
  else, predicate by predicate, whatever a fact's actor label ("I was kind to her aunt", "I drove her"
  beside "Client says he was kind to her aunt ... he drove her"); what "I" underwent ("I was arrested")
  must be what the facts say happened to her, not to someone else, and a date or place she gives it
  ("I was born in Tucson on August 22, 1984") must be in a fact about her, not only in another party's;
  a name she gives as hers ("I am ...", "My name is ...") must be one of her names; the client's own
  name is not someone else in the client's sentence; the victim is not "the victim" or "her" in the
  client's own words;
- in a text of several sentences, each that states something must share it with the sources.

`check_sentence` gives the reasons a sentence fails (empty when it is faithful), in words for the
attorney; `check_fact` does the same for an extracted fact against its passage.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from generation.stages.common import split_sentences

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc, Span, Token

# --- the spaCy model --------------------------------------------------------------------------------

_nlp_lock = threading.Lock()
_nlp_loaded: list[Language] = []


def nlp() -> Language:
    """spaCy's small English model, loaded once per process (seconds), with its parser: who is the
    subject of what is what the gate needs. The model is the one casework.pii_detect loads, by the
    package name, which never downloads."""
    if not _nlp_loaded:
        with _nlp_lock:
            if not _nlp_loaded:
                import spacy

                from casework.pii_detect import SPACY_MODEL

                _nlp_loaded.append(spacy.load(SPACY_MODEL))
    return _nlp_loaded[0]


@lru_cache(maxsize=4096)
def parsed(text: str) -> Doc:
    """The parse of `text`, kept for the process: each section looks for its needs' words in the same
    passages' sentences, and the gate reads the same facts again (read it, never change it)."""
    return nlp()(text)


# --- folding and words ------------------------------------------------------------------------------

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"})
# "U.S.", "USA" and "United States" are one country.
_COUNTRY = re.compile(r"\bU\.\s?S\.(?:\s?A\.)?|\bUSA\b|\bUnited States(?: of America)?\b")
_WORD = re.compile(r"[a-z0-9]+")


def fold(text: str) -> str:
    """Lower case, no accents (Ramírez = Ramirez), straight quotes, one country name."""
    text = _COUNTRY.sub(" unitedstates ", text.translate(_QUOTES))
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    """Folded words; a possessive ('s) is not part of a word."""
    return _WORD.findall(re.sub(r"'s\b|'", " ", fold(text)))


_STOP = frozenset(
    "a an and are as at be by for from had has have he her his i in is it its me my of on or our she "
    "that the their them they this to was we were what when where which who with you your did do not "
    "no never been being am but if into just also very so then there than him himself herself myself "
    "because about after before during while would could should will can may might us".split()
)

# --- entities: names, places, organisations ---------------------------------------------------------

_MONTHS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4, "may": 5,
    "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9, "sept": 9, "sep": 9,
    "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12,
}  # fmt: skip
_WEEKDAYS = frozenset("monday tuesday wednesday thursday friday saturday sunday".split())
_PRONOUNS = frozenset("i me my mine myself we our us he him his she her they them their it its you your".split())
# Words that are not a name to look up even when capitalised: titles, kinship, and the generic words of
# institutions ("the Police Department", "the Emergency Room": the distinctive words are checked).
_NOT_NAMES = (
    _STOP
    | _PRONOUNS
    | _WEEKDAYS
    | frozenset(_MONTHS)
    | frozenset(
        """
    mr mrs ms miss dr doctor officer sergeant sgt detective det deputy judge honorable hon sir madam
    mom mother dad father mama papa sister brother son daughter aunt uncle grandma grandpa grandmother
    grandfather husband wife boyfriend girlfriend baby god lord
    police department dept court hospital emergency room er order protective county city state district
    church school center centre clinic office station street st avenue ave road rd boulevard blvd
    drive dr lane apartment apt unit suite memorial general medical services service family law
    immigration customs enforcement citizenship shelter house home center university college
    declaration exhibit page affidavit section case record report form visa vawa
    mexican american guatemalan honduran salvadoran spanish english
    """.split()
    )
)
_NAME_LABELS = frozenset({"PERSON", "GPE", "LOC", "ORG", "FAC"})
_PARTICLES = frozenset("of the and de del la los las y van von".split())
_PREFIX_LETTERS = 6
# A capitalised word or run of them ("Rosa Hayes", "San Antonio", "Ramírez-López").
_CAPITAL_WORD = r"[A-Z\u00C0-\u00DE][\w\u00C0-\u024F'\u2019-]*"
_CAPITALISED = re.compile(rf"{_CAPITAL_WORD}(?:\s+(?:de|del|la|los|las|y|van|von)?\s*{_CAPITAL_WORD})*")
_SENTENCE_START = re.compile(r'(?:^|[.!?:;]\s+|["(\u201c]\s*)$')


def _name_candidates(text: str, doc: Doc) -> list[str]:
    found = [e.text for e in doc.ents if e.label_ in _NAME_LABELS]
    for match in _CAPITALISED.finditer(text):
        name = match.group(0)
        if _SENTENCE_START.search(text[: match.start()]):
            name = name.partition(" ")[2]  # a capital at a sentence's start says nothing
        if name:
            found.append(name)
    return found


def _known_word(word: str, source_words: set[str], acronyms: set[str]) -> bool:
    """A name's word is in the sources as written, as the start of a longer word or the longer word's
    start ("Guatemala" in "Guatemalan", six letters at least), or as the initials of a name ("HPD")."""
    if word in source_words or word in acronyms:
        return True
    if len(word) < _PREFIX_LETTERS:
        return False
    return any(len(w) >= _PREFIX_LETTERS and (w.startswith(word) or word.startswith(w)) for w in source_words)


def _acronyms(text: str) -> set[str]:
    """The initials of each run of capitalised words ("Houston Police Department" gives "hpd")."""
    found = set()
    for match in _CAPITALISED.finditer(text.translate(_QUOTES)):
        initials = "".join(w[0] for w in words(match.group(0)) if w not in _PARTICLES)
        if len(initials) >= 2:
            found.add(initials)
    return found


def _distinctive(name: str) -> list[str]:
    return [w for w in words(name) if w not in _NOT_NAMES and not w.isdigit() and len(w) > 1]


# --- dates ------------------------------------------------------------------------------------------

_MONTH_RE = r"(?P<mon>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_WEEKDAY_RE = r"(?:(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday),?\s+)?"
_DAY_RE = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR_RE = r"(?P<year>(?:19|20)\d{2})"
_DATE_PATTERNS = [
    re.compile(rf"\b{_WEEKDAY_RE}{_MONTH_RE}\s+{_DAY_RE}\b(?:,?\s*(?:of\s+)?{_YEAR_RE}\b)?", re.I),
    re.compile(rf"\b{_WEEKDAY_RE}(?:the\s+)?{_DAY_RE}\s+(?:of\s+)?{_MONTH_RE},?(?:\s*{_YEAR_RE}\b)?", re.I),
    re.compile(r"\b(?P<iy>(?:19|20)\d{2})-(?P<im>\d{1,2})-(?P<id>\d{1,2})\b"),
    re.compile(r"\b(?P<a>\d{1,2})[/.-](?P<b>\d{1,2})[/.-](?P<y>\d{4}|\d{2})\b"),
    re.compile(rf"\b{_MONTH_RE},?\s+(?:of\s+)?{_YEAR_RE}\b", re.I),
    re.compile(rf"\b{_YEAR_RE}\b"),
]
_MONTH_ALONE = re.compile(
    r"\b(?P<mon>January|February|March|April|June|July|August|September|October|November|December)\b"
)  # not "May": "May God forgive him" names no month
Date = tuple[int | None, int | None, int | None]  # year, month, day


@dataclass(frozen=True)
class FoundDate:
    text: str
    start: int
    end: int
    readings: frozenset[Date]


def find_dates(text: str, *, lone_months: bool = False) -> list[FoundDate]:
    """Every date written in `text`, as whole dates; each has its possible readings (6/10/2017 is June
    10 or, written the other way round, 6 October)."""
    text = text.translate(_QUOTES)
    found: list[FoundDate] = []
    taken: list[tuple[int, int]] = []
    patterns = [*_DATE_PATTERNS, _MONTH_ALONE] if lone_months else _DATE_PATTERNS
    for pattern in patterns:
        for match in pattern.finditer(text):
            if any(match.start() < end and start < match.end() for start, end in taken):
                continue
            readings = _readings(match)
            if not readings:
                continue
            taken.append((match.start(), match.end()))
            found.append(FoundDate(match.group(0), match.start(), match.end(), frozenset(readings)))
    return sorted(found, key=lambda d: d.start)


def _readings(match: re.Match[str]) -> set[Date]:
    groups = match.groupdict()
    if groups.get("iy"):
        return _valid({(int(groups["iy"]), int(groups["im"]), int(groups["id"]))})
    if groups.get("a"):
        a, b, y = int(groups["a"]), int(groups["b"]), int(groups["y"])
        full = y if y >= 100 else (2000 + y if y < 50 else 1900 + y)
        return _valid({(full, a, b), (full, b, a)})
    month = _MONTHS[groups["mon"].lower().rstrip(".")] if groups.get("mon") else None
    day = int(groups["day"]) if groups.get("day") else None
    year = int(groups["year"]) if groups.get("year") else None
    return _valid({(year, month, day)})


def _valid(readings: set[Date]) -> set[Date]:
    return {(y, m, d) for y, m, d in readings if (m is None or 1 <= m <= 12) and (d is None or 1 <= d <= 31)}


def _date_backed(readings: frozenset[Date], source: Iterable[Date]) -> bool:
    """A date is backed by a source date that has every part it has, equal: a whole date by the same
    whole date, a month and year by any date of that month, a year by any date of that year."""
    for wanted in readings:
        for have in source:
            if all(w is None or w == h for w, h in zip(wanted, have, strict=True)):
                return True
    return False


# --- numbers ----------------------------------------------------------------------------------------

_NUMBER = re.compile(r"(?<![\w.])\$?\d[\d,]*(?:\.\d+)?(?::\d{2})?(?:st|nd|rd|th)?\b")
_NUMBER_WORDS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "hundred": 100, "twice": 2, "third": 3, "fourth": 4, "fifth": 5,
}  # fmt: skip


def _number_value(written: str) -> str:
    value = written.lstrip("$").replace(",", "")
    value = re.sub(r"(st|nd|rd|th)$", "", value)
    return value.lstrip("0") or "0"


def _without(text: str, spans: Iterable[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def outside_dates(text: str) -> str:
    """`text` with its dates blanked out, each character kept in its place."""
    return _without(text, ((d.start, d.end) for d in find_dates(text)))


def _numbers(text: str) -> list[tuple[str, str]]:
    """(as written, value) for the numbers of `text` that are not part of a date."""
    text = text.translate(_QUOTES)
    rest = outside_dates(text)
    found = [(m.group(0), _number_value(m.group(0))) for m in _NUMBER.finditer(rest)]
    found += [(w, str(_NUMBER_WORDS[w])) for w in words(rest) if w in _NUMBER_WORDS]
    return found


# --- contact details and transcripts ----------------------------------------------------------------

_CONTACT = [
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"), "an e-mail address"),
    (re.compile(r"(?<!\d)(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]\d{4}(?!\d)"), "a phone number"),
    (re.compile(r"\bA[-\s]?\d{3}[-\s]?\d{3}[-\s]?\d{3}\b|\bA-?\d{8,9}\b"), "an A-number"),
    (
        re.compile(
            r"\b(?:phone|tel|telephone|cell|mobile|e-?mail|fax|dob|ssn|a-?number|address)\s*(?:no\.?|number|#)?\s*[:#]",
            re.I,
        ),
        "a contact field",
    ),
    (
        re.compile(
            r"\b(?:case|docket|cause|report|incident|record|file|receipt|order)\s*(?:no\.?|number|#)"
            r"(?:\s+(?:is|was|of))?\s*[:#]?\s*[\w-]*\d",
            re.I,
        ),
        "a case or record number",
    ),
    (re.compile(r"\b(?:badge|employee|officer)\s*(?:no\.?|number|#)?\s*#?\d{2,}", re.I), "a badge number"),
]
_SENDER = re.compile(r"(?:^|\s)([A-Z][\w\u00C0-\u024F]*(?:\s[A-Z][\w\u00C0-\u024F]*)?):\s")
_TIMESTAMP = re.compile(r"\b\d{1,2}:\d{2}(?:\s?[AaPp]\.?[Mm]\.?)?\b|\[\d{1,2}:\d{2}")
_QUOTED = re.compile(r'"([^"]{2,})"')
_NOT_SENDERS = frozenset({"note", "re", "subject", "date", "time", "from", "to", "sent"})


def outside_quotes(text: str) -> str:
    return _QUOTED.sub(" ", text.translate(_QUOTES))


def _contact_problems(text: str) -> list[str]:
    kinds = list(dict.fromkeys(label for pattern, label in _CONTACT if pattern.search(text)))
    if not kinds:
        return []
    return [f"it holds {', '.join(kinds)}: contact details and record numbers are never part of the client's story"]


def not_narrative(text: str) -> list[str]:
    """Why the text cannot be told as the client's story: it holds contact details or record numbers, or
    it is a message transcript pasted as prose. Empty when it can."""
    transcript = _transcript_problem(text)
    return _contact_problems(text) + ([transcript] if transcript else [])


def _transcript_problem(text: str) -> str | None:
    outside = outside_quotes(text)
    senders = [m for m in _SENDER.finditer(outside) if m.group(1).lower() not in _NOT_SENDERS]
    times = _TIMESTAMP.findall(outside)
    lines = [line for line in text.splitlines() if line.strip()]
    starts_with_sender = bool(senders) and outside.lstrip().startswith(senders[0].group(1))
    if len(senders) >= 2 or (senders and times) or starts_with_sender or len(times) >= 3 or len(lines) >= 3:
        return "it pastes a message transcript as narrative; a message is quoted, in quotation marks, as a quote"
    return None


# --- allegations and reversals ----------------------------------------------------------------------

# An allegation is made only when the sources make it; a word of a group is backed by any of its group.
_ALLEGATIONS: dict[str, frozenset[str]] = {
    name: frozenset(forms.split())
    for name, forms in {
        "rape": "rape raped rapes raping rapist sexually sexual molest molested molesting intercourse",
        "strangling": "strangle strangled strangling strangulation choke choked choking suffocate suffocated",
        "a weapon": "gun guns pistol shot shoot shooting knife knives stab stabbed stabbing weapon weapons",
        "killing": "kill killed killing murder murdered",
        "kidnapping": "kidnap kidnapped kidnapping abducted abduct",
        "trafficking": "traffic trafficked trafficking prostitution prostitute",
        "burning": "burn burned burnt burning",
        "an arrest": "arrest arrests arrested arresting jail jailed",
        "a broken bone": "fracture fractured fractures",
        "a pregnancy": "pregnant pregnancy miscarriage miscarried abortion",
        "drugging": "drugged poisoned poison",
        "abuse": "abuse abused abuses abusing abusive abuser abusers",
    }.items()
}
_GROUPS: dict[str, frozenset[str]] = {
    name: frozenset(forms.split())
    for name, forms in {
        "treat": "treat treated treating treatment treatments diagnose diagnosed diagnosis therapy therapist "
        "therapists counseling counselling counselor counsellor medication medicated prescribed",
        "meet": "meet meets met meeting",
        "call": "call calls called calling phoned dialed dialled",
        "marry": "marry married marriage wed wedding wedded",
        "hurt": "hurt hurts injure injured injury injuries bruise bruised bruises bruising wound wounded",
        "hit": "hit hits hitting struck strike punch punched punching slap slapped slapping beat beaten "
        "beating kick kicked kicking",
        "push": "push pushed pushing shove shoved shoving",
        "threaten": "threaten threatened threatening threat threats",
        "live": "live lived lives living reside resided",
        "report": "report reported reporting",
        "work": "work worked working employed job",
        "grab": "grab grabs grabbed grabbing",
        "know": "know knew known",
        "leave": "leave leaving",
        "see": "see saw seen seeing",
        "tell": "tell told telling say said saying stated",
        "grant": "grant granted granting issued",
        "take": "take took taken taking",
        "go": "go went gone going",
    }.items()
}
_GROUP_OF = {form: name for name, forms in {**_GROUPS, **_ALLEGATIONS}.items() for form in forms}
_SUFFIXES = tuple("ations ation ments ment ings ing ions ion ives ive ies ied ed es s".split())


def _key(word: str) -> str:
    """One key for the forms of a word: its group, or a light stem ("depression", "depressive" →
    "depress")."""
    if word in _GROUP_OF:
        return _GROUP_OF[word]
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: len(word) - len(suffix)][:7]
    return word[:7]


_SKIP_AFTER_NEGATION = frozenset(
    "be been being was were is am are have has had do does did ever even really also always get got gotten "
    "to a an the any once again yet able allowed want wanted try tried let go going".split()
)
_NEGATIONS = frozenset({"not", "never", "no"})
_NO = "no"
_NO_FOLLOWERS = frozenset({"one", "longer", "matter", "way", "doubt", "more", "less"})
_CLAUSE_WORDS = frozenset("because and but when so until after before while since although though if or".split())
_WINDOW = 6


def _negation_words(text: str) -> list[str]:
    folded = fold(text)
    folded = re.sub(r"\bcannot\b", "can not", folded)
    folded = re.sub(r"\bwon't\b", "will not", folded)
    folded = re.sub(r"n't\b", " not", folded)
    # Clause breaks are kept as tokens, so a negation does not reach across them.
    return re.findall(r"[a-z0-9]+|[.,;:!?]", folded.replace("'s", ""))


def _negated_predicates(tokens: list[str]) -> list[tuple[str, str, str | None]]:
    """("never met", the key of "met", the key of its object or None) for each negated predicate."""
    found = []
    for i, token in enumerate(tokens):
        if token not in _NEGATIONS:
            continue
        if token == _NO and (i + 1 >= len(tokens) or tokens[i + 1] in _NO_FOLLOWERS):
            continue
        j = i + 1
        while j < len(tokens) and tokens[j] in _SKIP_AFTER_NEGATION:
            j += 1
        if j >= len(tokens) or not tokens[j].isalpha() or tokens[j] in _STOP:
            continue
        obj = None
        for t in tokens[j + 1 : j + 1 + 4]:
            if not t.isalnum() or t in _CLAUSE_WORDS:
                break  # the object is in the predicate's own clause
            if t.isalpha() and t not in _STOP and t not in _PRONOUNS and len(t) > 2:
                obj = t
                break
        found.append((f"{token} {tokens[j]}", _key(tokens[j]), _key(obj) if obj else None))
    return found


def _occurrences(tokens: list[str], key: str) -> list[tuple[int, bool]]:
    """Where a word of `key` occurs in `tokens`, and whether a negation governs it there."""
    found = []
    for i, token in enumerate(tokens):
        if not token.isalpha() or _key(token) != key:
            continue
        negated = False
        for back in range(i - 1, max(-1, i - 5), -1):
            if not tokens[back].isalnum():
                break  # a clause break
            if tokens[back] in _NEGATIONS:
                negated = True
                break
        found.append((i, negated))
    return found


def _reversal_problems(text: str, sources: list[str]) -> list[str]:
    problems = []
    source_tokens = [_negation_words(s) for s in sources]
    for written, key, obj in _negated_predicates(_negation_words(text)):
        affirmed = negated = False
        evidence = ""
        for tokens in source_tokens:
            for i, is_negated in _occurrences(tokens, key):
                near = tokens[max(0, i - _WINDOW) : i + _WINDOW + 1]
                if obj is not None and obj not in {_key(t) for t in near if t.isalpha()}:
                    continue
                if is_negated:
                    negated = True
                else:
                    affirmed = True
                    evidence = evidence or tokens[i]
        if affirmed and not negated:
            problems.append(f'it says "{written}", but its sources say "{evidence}"')
    return problems


# --- who did it -------------------------------------------------------------------------------------

ACTORS = ("client", "abuser", "child", "witness", "police", "court", "medical", "other")
# What the client felt, saw or underwent: told in the first person whoever's act caused it.
_EXPERIENCE = frozenset(
    """
    feel felt fear feared see saw watch watched hear heard notice noticed suffer suffered undergo underwent
    cry cried worry worried panic panicked remember remembered realize realized think thought believe
    believed want wanted need needed love loved hope hoped try tried lose lost receive received
    """.split()
)
_CLIENT_WORDS = frozenset(
    {"i", "we", "me", "my", "she", "her", "client", "petitioner", "victim", "complainant", "applicant"}
)
_THIRD_PERSON_VICTIM = re.compile(
    r"\bthe (?:victim|client|petitioner|applicant|complainant|declarant|survivor|reporting party|patient)\b", re.I
)
_BODY = (
    "wrist|wrists|arm|arms|face|neck|head|eye|eyes|leg|legs|back|hand|hands|nose|lip|lips|rib|ribs|body|"
    "shoulder|shoulders|stomach|chest|throat|hair|mouth|jaw|cheek|knee|knees|finger|fingers|ankle"
)
_HER_BODY = re.compile(rf"\bher (?:left |right )?(?:{_BODY})\b", re.I)
_OTHER_REFERENT = re.compile(
    r"\b(?:she|he|daughter|son|mother|sister|brother|girl|boy|woman|man|wife|aunt|niece|nephew|grandmother|"
    r"friend|neighbou?r|child|baby|cousin|officer|husband|boyfriend)\b",
    re.I,
)
_NAME_INTRODUCED = re.compile(
    r"(?:name is|name was|i am|i'm|i,|known as|call me|called me|named|go by|went by|also known)\W*$", re.I
)
_NAME_INTRODUCED_ANYWHERE = re.compile(r"\b(?:name is|name was|known as|go by|went by|call me|called me)\b", re.I)
_CLIENT_LINE = re.compile(r"^\s*(?:client|petitioner|declarant|applicant)\b[^:\n]*:\s*(?P<rest>[^\n]+)$", re.I | re.M)


def name_tokens(names: list[str]) -> frozenset[str]:
    """The words of `names` that name someone (folded), less titles and words such as "de" that name no one."""
    return frozenset(w for name in names for w in words(name) if w not in _NOT_NAMES)


def client_names(record: str) -> list[str]:
    """The client's name (and the aliases on the same line) from the record text's client line."""
    match = _CLIENT_LINE.search(record)
    if not match:
        return []
    rest = match.group("rest")
    ends = r"[;,(]|\.\s+[A-Z][\w -]*:|\bborn\b|\bdate of birth\b|\bDOB\b"
    name = re.split(ends, rest, maxsplit=1, flags=re.I)[0].strip(" .")
    aliases = re.search(r"(?:aliases?|also known as|a\.k\.a\.?)\s*:?\s*([^;)\n]+)", rest, re.I)
    names = [name] if name else []
    if aliases:
        names += [a.strip(" .") for a in re.split(r",|\bor\b", aliases.group(1)) if a.strip(" .")]
    return names


_OTHER_PEOPLE = frozenset(
    """
    he officer officers police deputy detective court judge neighbour neighbor doctor dr nurse therapist
    husband boyfriend abuser witness man woman friend mother father sister brother daughter son child
    """.split()
)


def fact_actor(fact: dict[str, Any], client_tokens: frozenset[str]) -> str:
    """Who did, said or holds what the fact states: the actor extraction named, checked against the fact's
    own text. When they disagree the fact is not the client's: "Daniel pushed her" is not hers even if
    labelled so, and "I am a U.S. citizen" labelled the abuser's stays his (the model chose both, and the
    cost of trusting the wrong one is a sworn falsehood). Only a fact with no actor named (an older run,
    or "other") takes its text's subject: "She moved to Pasadena" is the client's."""
    labelled = str(fact.get("actor") or "other")
    subject = next(
        (t for t in parsed(str(fact.get("text") or "")) if t.dep_ == "nsubj" and t.head.dep_ == "ROOT"), None
    )
    if subject is None:
        return labelled
    word = fold(subject.text)
    if (word in _CLIENT_WORDS or word in client_tokens) and labelled in ("client", "other"):
        return "client"
    if labelled == "client" and (subject.pos_ == "PROPN" or word in _OTHER_PEOPLE):
        return "other"
    return labelled


def settled_actor(text: str, labelled: str, passage: str, client: list[str]) -> str:
    """The actor of an extracted fact, from its own words and its passage's, the model's label only where
    they say nothing. The 1.5B labels facts from their excerpt's kind rather than their subject: "Client
    filed for divorce on June 14, 2021" came labelled `police` and "I left on April 23, 2021" `police`, and
    the gate then removed the client's own acts from her declaration. A fact whose every sentence makes
    the client its subject (I, she, the client, her names) is hers when, in the passage's sentence closest
    to it, its verb is the client's act too ("Client left this house on April 23, 2021"); an "I" of the
    passage (an officer's "I observed") and a group ("they") never make it hers, and "I called 911 because
    of the screaming" stays the neighbour's when the passage's closest sentence is "a neighbor called 911
    because of the screaming"."""
    pieces = settled_pieces(text, labelled, passage, client)
    return "client" if pieces and all(actor == "client" for _, actor in pieces) else labelled


def settled_pieces(text: str, labelled: str, passage: str, client: list[str]) -> list[tuple[str, str]]:
    """The fact's sentences with the actor each settles to (settled_actor), sentences in a row with the same
    actor joined: "The victim was crying and holding her left wrist. I observed red marks on her neck."
    (labelled `child`) is the client's first and the officer's then, two facts of one passage."""
    if labelled == "client" or not passage.strip():
        return [(text, labelled)]
    client_tokens = name_tokens(client)
    # Split as the draft splits ("with Ofc. Moreno translating" is one sentence; spaCy ends one at "Ofc.").
    sentences = [parsed(piece)[:] for piece in split_sentences(text)]
    passage_sentences = [s for s in parsed(_squash(passage)).sents if s.text.strip()]
    if not sentences or not passage_sentences:
        return [(text, labelled)]
    pieces: list[tuple[str, str]] = []
    for sentence in sentences:
        hers = _is_her_act(sentence, passage_sentences, client_tokens) or none_held(sentence.text)
        actor = "client" if hers else labelled
        if pieces and pieces[-1][1] == actor:
            pieces[-1] = (f"{pieces[-1][0]} {sentence.text.strip()}", actor)
        else:
            pieces.append((sentence.text.strip(), actor))
    return pieces


# An intake note's shorthand "No arrests, no criminal record, in any country." is the client's to say.
_NONE_HELD = re.compile(r"^\s*No (?=[a-z])")


def none_held(text: str) -> bool:
    """Whether `text` is a verbless "No arrests, no criminal record." ("No one called the police" has a verb)."""
    return bool(_NONE_HELD.match(text)) and not any(t.pos_ in ("VERB", "AUX") for t in parsed(text))


def _is_her_act(sentence: Span, passage_sentences: list[Span], client_tokens: frozenset[str]) -> bool:
    """Whether the sentence makes the client its subject and the passage's closest sentence makes her the
    doer of its verb."""
    root = sentence.root
    subject = next((c for c in root.children if c.dep_ in ("nsubj", "nsubjpass")), None)
    if subject is None or not (fold(subject.text) in _CLIENT_WORDS or _is_client(subject, client_tokens)):
        return False
    lemma = _act_lemma(root)
    terms = set(words(sentence.text)) - _STOP
    closest = max(passage_sentences, key=lambda s: len(terms & set(words(s.text))))
    doers = [
        _whose(doer, "third", client_tokens)
        for token in closest
        if lemma and token.is_alpha and token.lemma_.lower() == lemma
        for verb in [token if lemma != "be" and token.pos_ in ("VERB", "AUX") else _clause_verb(token)]
        if verb is not None and not any(c.dep_ == "neg" for c in verb.children)  # "client did not call"
        for doer in [_doer(verb)]
        if doer is not None and fold(doer.text) != "i"
    ]
    return "client" in doers


def _act_lemma(root: Token) -> str:
    """What a sentence's root says its subject did or is: the verb, or a copula's first attribute."""
    if root.lemma_.lower() != "be":
        return root.lemma_.lower() if root.is_alpha else ""
    attribute = next((c for c in root.children if c.dep_ in ("attr", "acomp")), None)
    return attribute.lemma_.lower() if attribute is not None and attribute.is_alpha else ""


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# "My immigration status is ...": an attribute of the client's own, like "I am ...".
_OWN_ATTRIBUTES = frozenset("status nationality citizenship country language".split())


def _client_subjects(doc: Doc) -> list[tuple[Token, str]]:
    """The places the sentence makes the client the subject of an act or a status: "I" as an active
    subject, and "my status" (or nationality...) as the subject of "is"."""
    found = []
    for token in doc:
        if token.text == "I" and token.dep_ == "nsubj":
            found.append((token, "I"))
        elif (
            token.dep_ == "nsubj"
            and token.lemma_.lower() in _OWN_ATTRIBUTES
            and token.head.lemma_ == "be"
            and any(c.dep_ == "poss" and c.lower_ == "my" for c in token.children)
        ):
            found.append((token, " ".join(t.text for t in token.subtree)))
    return found


def _subject_problems(
    doc: Doc, facts: list[dict[str, Any]], client: list[str], record: str, passages: list[str] | None = None
) -> list[str]:
    client_tokens = name_tokens(client)
    actors = [(fact_actor(f, client_tokens), f) for f in facts]
    client_facts = [f for actor, f in actors if actor == "client"]
    others = [(actor, f) for actor, f in actors if actor != "client"]
    problems: list[str] = []
    for token, subject in _client_subjects(doc):
        if token.head.dep_ in ("ccomp", "xcomp", "advcl") and _someone_else_speaks(token.head.head):
            continue  # "he told the police that I fell": his words about the client
        for head in _predicates(token.head):
            found = _act_problems(head, subject, client_facts, others, record, client_tokens)
            if not found and subject == "I":
                found = _owner_problems(head, facts, passages or [], client_tokens)
            problems += found
    for token in doc:
        if token.text == "I" and token.dep_ == "nsubjpass":
            problem = _undergone_by_someone_else(token.head, facts, client_tokens) or _given_to_someone_else(
                token.head, doc, facts + _record_lines(record), client_tokens
            )
            if problem:
                problems.append(problem)
    return problems


def _we_problems(doc: Doc, facts: list[dict[str, Any]], client: list[str], passages: list[str]) -> list[str]:
    """ "We opened a joint account" (she and her husband): what "we" did must not be only someone else's
    act in its facts ("We called 911" beside "a neighbor called 911")."""
    client_tokens = name_tokens(client)
    return [
        problem
        for token in doc
        if token.lower_ == "we" and token.dep_ == "nsubj"
        for head in _predicates(token.head)
        for problem in _owner_problems(head, facts, passages, client_tokens, subject="We")
    ]


# Who did what a predicate states, in the facts' own words: "Client says he was patient and funny, and
# that he was kind to her aunt" gives patient, funny and kind to him, whatever the fact's actor label.
# Light verbs say too little alone to tell whose act it is ("I had to leave" beside "he had a gun").
_LIGHT_VERBS = frozenset("be have do get make take let keep start begin try become seem".split())
# Acts two people do together: "Daniel married her" backs "I married Daniel".
_SHARED_ACTS = frozenset(
    "marry meet date divorce separate live move go come travel fight argue talk speak married divorced separated "
    "engaged friend".split()
)
_FIRST_PERSON_WORDS = frozenset({"i", "me", "my", "mine", "myself", "we", "us", "our"})
_SHE = frozenset({"she", "her", "hers", "herself"})
_GROUP_WORDS = frozenset({"they", "them", "we", "us", "you", "both", "together", "couple"})
_CLIMB = frozenset({"conj", "acomp", "attr", "prep", "pobj", "appos"})
_RELATIVE = frozenset({"who", "that", "which", "whom"})


def _predicate_lemmas(head: Token, subject: str = "I") -> list[tuple[str, str]]:
    """(lemma, as the sentence says it) for what "I" is made the subject of at `head`: the verb, or for a
    copula its adjective or noun attributes ("I was patient and funny" gives patient and funny)."""
    if any(c.dep_ == "neg" for c in head.children):
        return []  # "I did not drive": no act given to the client
    if head.lemma_.lower() != "be":
        lemma = head.lemma_.lower()
        return [] if lemma in _LIGHT_VERBS or not head.is_alpha else [(lemma, f"{subject} {head.text}")]
    found = []
    for attribute in (c for c in head.children if c.dep_ in ("attr", "acomp")):
        for part in [attribute, *(c for c in attribute.conjuncts if c.i > attribute.i)]:
            if part.pos_ in ("ADJ", "NOUN") and part.is_alpha:
                found.append((part.lemma_.lower(), f"{subject} {head.text} {part.text}"))
    return found


def _clause_verb(token: Token) -> Token | None:
    """The copula an attribute belongs to ("kind" in "he was kind", "citizen" in "I am from Bolivia and a
    citizen of Bolivia"); None when the word is not said of anyone ("a kind gesture")."""
    while token.dep_ in _CLIMB and token.head is not token:
        token = token.head
        if token.lemma_.lower() == "be":
            return token
    return None


def _doer(verb: Token) -> Token | None:
    """Who does what `verb` states in a fact: its subject, the agent of a passive ("by him"), or the
    subject it shares with the verb it is joined to or that governs it ("he wanted to drive her")."""
    for _ in range(8):
        subject = next((c for c in verb.children if c.dep_ in ("nsubj", "csubj", "expl")), None)
        if subject is not None:
            if subject.lower_ in _RELATIVE and verb.dep_ == "relcl":
                return verb.head  # "the man who drove her"
            return subject
        if any(c.dep_ in ("nsubjpass", "auxpass") for c in verb.children):
            agent = next((c for c in verb.children if c.dep_ == "agent"), None)
            return next((c for c in agent.children if c.dep_ == "pobj"), None) if agent is not None else None
        if verb.dep_ not in ("conj", "xcomp") or verb.head is verb:
            return None
        verb = verb.head
    return None


def _client_does(lemma: str, text: str, client_tokens: frozenset[str]) -> bool:
    """Whether the third-person `text` makes the client the doer of the verb `lemma`, not negated
    ("she came home late" for "come"; not "he threw" for "throw", nor "client did not call")."""
    for token in parsed(text):
        if token.lemma_.lower() != lemma or token.pos_ not in ("VERB", "AUX"):
            continue
        if any(c.dep_ == "neg" for c in token.children):
            continue
        doer = _doer(token)
        if doer is not None and _whose(doer, "third", client_tokens) == "client":
            return True
    return False


def _whose(subject: Token, voice: str, client_tokens: frozenset[str]) -> str:
    """ "client", "other" or "either" (they, we: a group that may hold her) for a fact's subject. In a fact in
    the client's voice ("first") "I" is the client and "she" someone else; in a third-person one ("third"),
    "she", "the client" and her names are her, and an "I" is a speaker quoted; in a passage in the first
    person ("mixed": the client's statement, or an officer's report) "I" may be her and "she" may be too."""
    word = fold(subject.text)
    if word in _GROUP_WORDS or any(c.dep_ == "conj" for c in subject.children):
        return "either"  # "They married", "Daniel and she moved"
    if word in _FIRST_PERSON_WORDS:
        return "either" if voice == "third" else "client"
    if word in _SHE:
        return {"third": "client", "first": "other"}.get(voice, "either")
    if word in _CLIENT_WORDS or (subject.pos_ == "PROPN" and _is_client(subject, client_tokens)):
        return "client"
    return "other"


def _shared_with_client(nodes: list[Token], voice: str, client_tokens: frozenset[str]) -> bool:
    """Whether the client is the other party of what two people do or are together ("Daniel married her",
    "he moved in with her", "he was married to her")."""
    parties = [c for n in nodes for c in n.children if c.dep_ == "dobj"]
    parties += [
        g for n in nodes for c in n.children if c.dep_ == "prep" and c.lower_ in ("with", "to") for g in c.children
    ]
    return any(_whose(p, voice, client_tokens) != "other" for p in parties)


def _said(verb: Token, doer: Token) -> str:
    """The fact's words for the act: from its doer to the end of what the verb governs, without the
    clauses joined to it, in a few words ("he drove her to Mount Lemmon")."""
    clauses = ("ccomp", "advcl", "relcl", "parataxis")
    skip = {
        t.i
        for c in verb.children
        if c.dep_ in clauses or (c.dep_ == "conj" and c.pos_ in ("VERB", "AUX"))
        for t in c.subtree
    }
    kept = [t for t in verb.subtree if t.i not in skip]
    start = doer.left_edge.i if doer.i < verb.i else verb.i
    span = [t for t in verb.doc[start : kept[-1].i + 1] if t.i not in skip]
    while span and (span[-1].is_punct or span[-1].dep_ in ("cc", "mark")):
        span.pop()
    text = "".join(t.text_with_ws for t in span[:12]).strip()
    return text + ("..." if len(span) > 12 else "")


def _owner_problems(
    head: Token, facts: list[dict[str, Any]], passages: list[str], client_tokens: frozenset[str], subject: str = "I"
) -> list[str]:
    """ "I drove her to Mount Lemmon" when its facts say "he drove her to Mount Lemmon": an act or a quality
    the facts (and passages) state only of someone else is not the client's, whatever the fact's actor
    label. When the word is not in them at all (a paraphrase), the other checks decide."""
    problems = []
    texts = [_text(f) for f in facts] + passages
    for lemma, said in _predicate_lemmas(head, subject):
        verdicts: list[tuple[str, str]] = []  # (whose, the fact's words)
        for n, text in enumerate(texts):
            doc = parsed(text)
            first_person = bool(_FIRST_PERSON_WORDS & set(words(outside_quotes(text))))
            voice = ("first" if n < len(facts) else "mixed") if first_person else "third"
            for token in doc:
                if token.lemma_.lower() != lemma or not token.is_alpha:
                    continue
                verb = token if token.pos_ in ("VERB", "AUX") and lemma != "be" else _clause_verb(token)
                if verb is None or any(c.dep_ == "neg" for c in verb.children):
                    continue  # "(client did not call)" gives her no call
                doer = _doer(verb)
                if doer is None:
                    verdicts.append(("either", ""))
                    continue
                whose = _whose(doer, voice, client_tokens)
                if (
                    whose == "other"
                    and lemma in _SHARED_ACTS
                    and _shared_with_client([token, verb], voice, client_tokens)
                ):
                    whose = "either"
                verdicts.append((whose, _said(verb, doer)))
        if verdicts and all(whose == "other" for whose, _ in verdicts):
            did = "was" if head.lemma_.lower() == "be" else "did"
            problems.append(f'it says "{said}", but its facts say someone else {did} ("{verdicts[0][1]}")')
    return problems


def _undergone_by_someone_else(verb: Token, facts: list[dict[str, Any]], client_tokens: frozenset[str]) -> str | None:
    """ "I was arrested" when its facts say Daniel was: what the client underwent must be what her facts
    say happened to her ("Daniel pushed her" backs "I was pushed")."""
    key = _key(verb.lower_)
    undergoers: list[tuple[bool, str]] = []  # (whether it is the client, the fact's text)
    for fact in facts:
        # An "I" in a fact labelled someone else's ("I was arrested", actor police) is not the client.
        theirs = str(fact.get("actor") or "other") not in ("client", "other")
        for token in parsed(_text(fact)):
            if not token.is_alpha or _key(token.lower_) != key:
                continue
            for child in token.children:
                person = child.pos_ in ("PROPN", "PRON") or child.lower_ in _OTHER_PEOPLE | _CLIENT_WORDS
                if child.dep_ in ("nsubjpass", "dobj") and person:  # not "granted an order"
                    first_person = child.lower_ in ("i", "me")
                    hers = _is_client(child, client_tokens) and not (first_person and theirs)
                    undergoers.append((hers, _text(fact)))
    if not undergoers:
        return None
    if any(hers for hers, _ in undergoers):
        return None
    text = undergoers[0][1]
    return (
        f'it says "I {" ".join(t.text for t in verb.lefts if t.dep_ == "auxpass")} {verb.text}", but its facts say '
        f'that of someone else ("{text}"); the client may only state what they underwent'
    )


def _is_client(token: Token, client_tokens: frozenset[str]) -> bool:
    """Whether a fact's word is the client: "her", "the victim", or a name all of whose words are the
    client's ("Ms. Torres"; not "Sofía Kessler Torres", her daughter, who shares a surname)."""
    if fold(token.text) in _CLIENT_WORDS:
        return True
    if token.pos_ != "PROPN":
        return False
    parts = sorted([*(c for c in token.children if c.dep_ in ("compound", "flat")), token], key=lambda t: t.i)
    # A heading the page ran into the name ("CLIENT INTAKE NOTES Jane Doe") is no part of it.
    parts = [t for t in parts if not (t.text.isupper() and len(t.text) > 1 and fold(t.text) not in client_tokens)]
    name = [w for t in parts for w in words(t.text) if w not in _NOT_NAMES]
    return bool(name) and set(name) <= client_tokens


def _about_client(fact: dict[str, Any], client_tokens: frozenset[str]) -> bool:
    """A fact the client holds or that speaks of her ("I was born on ...", "Richard hit her ...")."""
    if fact_actor(fact, client_tokens) == "client":
        return True
    # "My child, Sofía, was born on ..." speaks of her child: a possessive names whose, not who.
    return any(
        t.pos_ in ("PRON", "PROPN", "NOUN") and t.dep_ != "poss" and _is_client(t, client_tokens)
        for t in parsed(_text(fact))
    )


def _own_clause(verb: Token) -> set[int]:
    """The tokens of the verb's own clause: not its agent ("by Richard") nor a clause of its own."""
    skip = {
        t.i
        for c in verb.children
        if c.dep_ in ("agent", "ccomp", "advcl", "relcl", "conj", "parataxis", "acl")
        for t in c.subtree
    }
    return {t.i for t in verb.subtree} - skip


def _holds(facts: list[dict[str, Any]], readings: frozenset[Date] | None, word: str) -> dict[str, Any] | None:
    """The first of `facts` that has the date (any reading) or the place's word."""
    for fact in facts:
        text = _text(fact)
        if readings is not None:
            if _date_backed(readings, [r for d in find_dates(text, lone_months=True) for r in d.readings]):
                return fact
        elif word in words(text):
            return fact
    return None


def _given_to_someone_else(
    verb: Token, doc: Doc, facts: list[dict[str, Any]], client_tokens: frozenset[str]
) -> str | None:
    """ "I was born in Tucson on August 22, 1984" when that date and place are Richard's birth, not the
    client's: a date or place the client states of what she underwent must be in a fact about her,
    and is not hers when only a fact about someone else has it."""
    clause = _own_clause(verb)
    stated: list[tuple[str, frozenset[Date] | None, str]] = []  # (as written, date readings, place word)
    for date in find_dates(doc.text, lone_months=True):
        span = doc.char_span(date.start, date.end, alignment_mode="expand")
        if span is not None and span[0].i in clause:
            stated.append((date.text, date.readings, ""))
    for token in doc:
        if token.i in clause and token.pos_ == "PROPN" and token.ent_type_ in ("GPE", "LOC", "FAC"):
            stated += [(token.text, None, w) for w in _distinctive(token.text)]
    if not stated:
        return None
    held = [f for f in facts if _about_client(f, client_tokens)]
    others = [f for f in facts if not _about_client(f, client_tokens)]
    for written, readings, word in stated:
        if _holds(held, readings, word):
            continue
        other = _holds(others, readings, word)
        if other is not None:
            said = " ".join(t.text for t in verb.lefts if t.dep_ == "auxpass")
            actor = fact_actor(other, client_tokens)
            return (
                f'it says "I {said} {verb.text}" with "{written}", but that is in a fact about someone else '
                f'({actor}: "{_text(other)}"), not in one about the client'
            )
    return None


def _predicates(head: Token) -> list[Token]:
    """The verb a subject governs and the verbs joined to it that share it ("I grabbed ... and cut ...")."""
    joined = [
        c
        for c in head.children
        if c.dep_ == "conj" and c.pos_ in ("VERB", "AUX") and not any(g.dep_.startswith("nsubj") for g in c.children)
    ]
    return [head, *joined]


def _act_problems(
    head: Token,
    subject: str,
    client_facts: list[dict[str, Any]],
    others: list[tuple[str, dict[str, Any]]],
    record: str,
    client_tokens: frozenset[str] = frozenset(),
) -> list[str]:
    """Why the client may not be the subject of `head` ("I called", "I am a U.S. citizen"), given the
    actors of the sentence's facts; empty when they may. A sentence looked for in a passage whose own
    words make the client the doer of that verb backs it too: "The first incident client remembers was in
    March 2016: she came home late ..., and he threw a plate" has "she came" in a sentence not hers alone."""
    if any(c.dep_ == "neg" for c in head.children):
        return []  # "I could not breathe", "I did not call": no act given to the client
    verb = head.lemma_.lower()
    if verb in _EXPERIENCE or head.lower_ in _EXPERIENCE:
        return []
    if verb == "be":
        attribute = next((c for c in head.children if c.dep_ in ("attr", "acomp")), None)
        if (
            attribute is None
            or attribute.pos_ in ("NUM", "PRON", "PROPN")
            or (attribute.pos_ == "ADJ" and subject == "I")
        ):
            return []  # "I was afraid", "I was 19", "I am Maria": the client's own state
        value = " ".join(t.text for t in attribute.subtree)
        said = f"{subject} {head.text} {value}"
        claim = {_key(w) for w in words(value) if w not in _STOP}
    else:
        said = f"I {head.text}"
        claim = {_key(fold(head.text))}
    own = [_text(f) for f in client_facts] + ([_client_line(record)] if verb == "be" else [])
    if any(claim <= {_key(w) for w in words(text)} for text in own):
        return []  # the client's own fact (or the record's client line) says so
    # A sentence looked for (no model labelled it) whose own words make her the doer backs her act; a
    # model's label that disagrees with its fact's words is not overruled ("She called", labelled police).
    if verb != "be" and any(f.get("looked_for") and _client_does(verb, _text(f), client_tokens) for _, f in others):
        return []
    someone = [(a, f) for a, f in others if claim <= {_key(w) for w in words(_text(f))}]
    if someone:
        actor, fact = someone[0]
        return [
            f'it says "{said}", but its facts say that of someone else ({actor}: "{_text(fact)}"); '
            "the client may only state what they did, saw, felt or underwent"
        ]
    if verb == "be":
        return [f'it says "{said}", but none of its facts says that of the client']
    if not client_facts:
        cited = ", ".join(sorted({a for a, _ in others})) or "none"
        return [f'it says "{said}", but none of its facts is about what the client did (their actors: {cited})']
    return []


def _text(fact: dict[str, Any]) -> str:
    return str(fact.get("text") or "")


# Verbs that report someone's words or mind: "he told the police that I fell" is his account, not hers.
_REPORTING = frozenset(
    """say tell state report claim write text threaten warn promise insist explain admit deny shout yell scream
    ask think believe know testify allege""".split()
)


def _someone_else_speaks(verb: Token) -> bool:
    """Whether `verb` is someone else's saying or thinking. Only a reporting verb counts: a small parser
    hangs "I choked him; he broke my wrist" as one clause under another, and that is no one's report."""
    subjects = [c for c in verb.children if c.dep_ in ("nsubj", "nsubjpass")]
    return verb.lemma_.lower() in _REPORTING and bool(subjects) and all(s.text != "I" for s in subjects)


def _record_lines(record: str) -> list[dict[str, Any]]:
    """The record's lines as facts of the party each is about: a date the record gives another party
    ("Child: Sofía Kessler Torres. Born: November 5, 2018.") is not the client's birth."""
    client = _client_line(record)
    return [
        {"text": line, "actor": "client" if line == client else "other", "source": "record"}
        for line in record.splitlines()
        if line.strip()
    ]


def _client_line(record: str) -> str:
    match = _CLIENT_LINE.search(record)
    return match.group(0) if match else ""


def _introduced(before: str, tokens: set[str]) -> bool:
    """Whether a name follows "my name is", "also known as" and the like, directly or as the next of a
    list of the client's names ("I am also known as Maria Ramirez Lopez, Maria Ramirez")."""
    if _NAME_INTRODUCED.search(before):
        return True
    for intro in _NAME_INTRODUCED_ANYWHERE.finditer(before):
        between = set(words(before[intro.end() :]))
        if between <= tokens | {"and", "or"}:
            return True
    return False


def _client_as_someone_else(text: str, client: list[str]) -> str | None:
    """The client's own name in the client's sentence as another person ("I married Maria Ramirez")."""
    tokens = {w for name in client for w in words(name) if w not in _NOT_NAMES}
    firsts = {words(name)[0] for name in client if words(name)}
    if not tokens:
        return None
    for match in _CAPITALISED.finditer(text.translate(_QUOTES)):
        mention = [w for w in words(match.group(0)) if w not in _NOT_NAMES]
        if not mention or not set(mention) <= tokens:
            continue
        if not (set(mention) & firsts or len(mention) >= 2):
            continue
        if _introduced(text[: match.start()], tokens):
            continue
        return f'it names the client ("{match.group(0)}") as another person in the client\'s own words'
    return None


# "I am ...", "My name is ...": the name that follows is who the client says she is.
_IDENTITY = re.compile(
    r"(?:\bI am|\bI'm|\bmy (?:full |legal |real |given |birth )?name (?:is|was)|\bknown as|\ba\.?k\.?a\.?"
    r"|\bI (?:also )?(?:go|went) by|\bcall me|(?:^|[.!?]\s+)I,)\s+$",
    re.I,
)
_IDENTITY_LIST = re.compile(r"\b(?:known as|a\.?k\.?a\.?|go by|went by)\b", re.I)
_NAME_FACT = re.compile(r"(?:name is|known as)\s+([^.;]+)", re.I)


def _identity_problems(text: str, doc: Doc, client: list[str], facts: list[dict[str, Any]]) -> list[str]:
    """ "I am Sofía Kessler Torres": a name the client gives as her own must be one of her names (the
    record's client line; without one, what the client's own facts name her), or the sentence makes the
    client someone else."""
    names = list(client)
    if not names:
        own = [f for f in facts if str(f.get("actor") or "") == "client"]
        names = [n.strip() for f in own for m in _NAME_FACT.finditer(_text(f)) for n in re.split(r",|\band\b", m[1])]
    tokens = {w for name in names for w in words(name) if w not in _NOT_NAMES}
    if not tokens:
        return []
    problems = []
    for match in _CAPITALISED.finditer(text):
        before = text[: match.start()]
        listed = any(
            set(words(before[intro.end() :])) <= tokens | {"and", "or"} for intro in _IDENTITY_LIST.finditer(before)
        )
        if not (_IDENTITY.search(before) or listed) or match.group(0).endswith(("'s", "'")):
            continue  # not given as hers, or "I am Sofía's mother"
        mention = _distinctive(match.group(0))
        first = next((t for t in doc if t.idx == match.start()), None)
        adjective = first is not None and (first.dep_ == "acomp" or first.pos_ == "ADJ" or first.ent_type_ == "NORP")
        if not mention or (len(mention) == 1 and adjective):
            continue  # "I am Bolivian", "I am Catholic"
        if not set(mention) <= tokens:
            problems.append(
                f'it says the client is "{match.group(0)}", someone else: the client is {" or ".join(names)}'
            )
    return problems


# Her status, told as hers: "I am Maria Elena Ramírez López, a citizen of the United States, who has never been
# arrested" (the demo's drafter, of "No arrests, no criminal record") is the most damaging sentence a VAWA
# petition can hold, and each of its words is in the case file (her husband is a U.S. citizen).
_HER_CLAIM = re.compile(r"\bI(?:'m| am| was| have been| became)\b(?P<claim>(?:[^.;]|(?<=\b[A-Z])\.){0,120})")
_US_STATUS = re.compile(
    r"\b(?:U\.\s?S\.|US|United States|American)\s+(?:citizen|national|resident)|"
    r"\b(?:citizen|national|resident) of the United States\b|\bpermanent resident\b|\bgreen card\b",
    re.I,
)
_CITIZEN_OF = re.compile(r"\bcitizen of (?:the )?(?P<country>[A-Z][\w\u00C0-\u024F]*(?: [A-Z][\w\u00C0-\u024F]*)*)")


def _status_problems(text: str, record: str) -> list[str]:
    """A status she claims as hers must be the record's: a U.S. citizen's or a resident's only when her record
    line says so, a citizenship of another country only of the country it names."""
    line = _CLIENT_LINE.search(record)
    hers = fold(line.group("rest")) if line else ""
    problems = []
    for claim in (m.group("claim") for m in _HER_CLAIM.finditer(text)):
        us = _US_STATUS.search(claim)
        if us and not _US_STATUS.search(hers):
            problems.append(f'it says the client is "{us.group(0)}", which her record does not say')
        country = _CITIZEN_OF.search(claim)
        if country and not us and fold(country.group("country")) not in hers:
            problems.append(
                f"it says the client is a citizen of {country.group('country')}, which her record does not say"
            )
    return problems


def _third_person_victim(text: str, fact_texts: list[str]) -> str | None:
    """ "The victim", or "her wrist" copied from a third-person fact with no one else in the sentence
    she could be."""
    found = _THIRD_PERSON_VICTIM.search(text)
    if found:
        return f'it speaks of the client in the third person ("{found.group(0)}") in the client\'s own words'
    body = _HER_BODY.search(text)
    copied = body and any(fold(body.group(0)) in fold(f) for f in fact_texts)
    if body and copied and not _OTHER_REFERENT.search(text[: body.start()]):
        return f'it speaks of the client in the third person ("{body.group(0)}") in the client\'s own words'
    return None


# --- the checks -------------------------------------------------------------------------------------

_FIRST_PERSON = re.compile(r"\bI\b|\b(?:[Mm]y|[Mm]e|[Mm]ine|[Mm]yself)\b")
_WE = re.compile(r"\b[Ww]e\b")


def _entity_problems(text: str, doc: Doc, sources: list[str]) -> list[str]:
    joined = "\n".join(sources)
    source_words = set(words(joined))
    problems = []
    missing_names = []
    acronyms = _acronyms(joined)
    for name in dict.fromkeys(_name_candidates(text, doc)):
        absent = [w for w in _distinctive(name) if not _known_word(w, source_words, acronyms)]
        if absent and name not in missing_names:
            missing_names.append(name)
    # A shorter candidate inside a longer one already reported says nothing new.
    for name in missing_names:
        if not any(name != other and name in other for other in missing_names):
            problems.append(f'"{name}" is not in its sources')
    source_dates = [r for d in find_dates(joined, lone_months=True) for r in d.readings]
    for date in find_dates(text, lone_months=True):
        if not _date_backed(date.readings, source_dates):
            problems.append(f'the date "{date.text}" is not in its sources')
    source_numbers = {value for _, value in _numbers(joined)}
    for written, value in dict.fromkeys(_numbers(text)):
        if value not in source_numbers:
            problems.append(f'the number "{written}" is not in its sources')
    sentence_words = set(words(text))
    for allegation, forms in _ALLEGATIONS.items():
        if sentence_words & forms and not source_words & forms:
            said = sorted(sentence_words & forms)[0]
            problems.append(f'it alleges {allegation} ("{said}"), which its sources do not')
    return problems


# Harm the sentence tells as an act needs a cited fact that states it: the sources' shared names are not
# enough ("I was hit by a man named Richard Allen Kessler" on his name and status). A specific act needs
# its own kind; harm and abuse in general are backed by any harm the facts state.
_HARMS = {
    "hit": "hitting",
    "push": "pushing",
    "grab": "grabbing",
    "threaten": "threats",
    "hurt": "harm",
    "abuse": "abuse",
}
_GENERAL_HARMS = frozenset({"hurt", "abuse"})
_ROLES = frozenset({"abuser", "abusers"})
_COURT_ACT = re.compile(
    r"\b(?:protective|restraining|protection|no.contact|court|emergency|custody)\s+orders?\b"
    r"|\borders?\s+of\s+protection\b"
    r"|\b(?:grant|granted|grants|issue|issued|issues|gave|give|gives|signed|entered)\s+(?:\w+\s+){0,3}?orders?\b"
    r"|\bcustody\b|\bconvicted\b|\bsentenced\b|\binjunction\b|\bguilty\b"
)
_COURT_FACT = re.compile(r"\borders?\b|\bcustody\b|\bconvict|\bsentenc|\binjunction\b|\bguilty\b")


def _claim_problems(doc: Doc, facts: list[dict[str, Any]], sources: list[str]) -> list[str]:
    """Harm told as an act ("I was hit", "he pushed me", "I was abused") and a court's act ("the court
    granted me an order") must be stated by a cited fact, not only by words the sentence shares with it.
    (Abuse no source alleges at all is reported once, by the allegation check.)"""
    # "My abuser is ..." (the record's role) names him; it states no act of his.
    fact_keys = {_key(w) for f in facts for w in words(_text(f)) if w not in _ROLES}
    source_keys = {_key(w) for w in words("\n".join(sources))}
    any_harm = bool(fact_keys & (set(_HARMS) | set(_ALLEGATIONS)))
    problems = []
    for token in doc:
        key = _key(token.lower_)
        if token.pos_ != "VERB" or key not in _HARMS or any(c.dep_ == "neg" for c in token.children):
            continue  # "he never hit me" is the reversal check's
        if key in fact_keys or (key in _GENERAL_HARMS and any_harm) or (key in _ALLEGATIONS and key not in source_keys):
            continue
        problems.append(f'it alleges {_HARMS[key]} ("{token.text}"), which none of its facts states')
    court = _COURT_ACT.search(fold(doc.text))
    if court and not any(_COURT_FACT.search(fold(_text(f))) for f in facts):
        problems.append(f'it says a court acted ("{court.group(0)}"), which none of its facts states')
    return problems


# Verbs that tell a fact's act without being one: the drafter may say "I was" or "I remember" of what a
# fact states in other words.
_LIGHT_VERBS = frozenset(
    "be have do say tell state report explain feel remember recall know think want need include become get make "
    "happen".split()
)


def _unsourced_act(doc: Doc, sources: list[str]) -> list[str]:
    """What the sentence says was done must be what its sources say was: "These symptoms began in April 2019."
    (the demo's drafter, of "Her doctor prescribed sertraline 50 mg daily in April 2019.") shares its words
    and date with its fact, and states what no source does."""
    root = next((t for t in doc if t.dep_ == "ROOT"), None)
    if root is None or root.pos_ != "VERB" or root.lemma_.lower() in _LIGHT_VERBS:
        return []
    if _key(root.lower_) in {_key(w) for w in words("\n".join(sources))}:
        return []
    if any(t.lemma_.lower() == root.lemma_.lower() for source in sources for t in parsed(source)):
        return []
    return [f'it says "{root.text}", which none of its sources says of anyone']


def _quote_problems(text: str, sources: list[str]) -> list[str]:
    """Quoted words are someone's own words, in their order: 'stated, "Nothing happened, I fell."' misquotes
    a report's "Nothing happened, she fell." though every word of it is in the passage. An ellipsis may
    leave words out between the parts it joins."""
    said = [f" {' '.join(words(source))} " for source in sources]
    problems = []
    for quoted in _QUOTED.findall(text.translate(_QUOTES)):
        parts = [words(part) for part in re.split(r"\.\.\.|\u2026", quoted)]
        if any(part and not any(f" {' '.join(part)} " in source for source in said) for part in parts):
            problems.append(f'the quoted words "{quoted.strip()}" are not its sources\' words')
    return problems


# A clinician's or an officer's judgement of her, told in her voice, is not her account: "My account has
# been consistent across sessions" (a therapist's letter) is for the attorney to cite, not for her to swear.
_JUDGED = re.compile(
    r"\bmy (?:account|accounts|statements?|story|reports?|disclosures?|testimony)\b[^.;]{0,40}?"
    r"\b(?:consistent|credible|believable|plausible|congruent|coherent|reliable)\b",
    re.I,
)


def _no_verb(doc: Doc) -> bool:
    """ "DV resource card and information about orders of protection.": a phrase, not a sentence."""
    return len(doc) > 2 and not any(t.pos_ in ("VERB", "AUX") or t.tag_.startswith("VB") or t.tag_ == "MD" for t in doc)


def _stated_terms(text: str) -> set[str]:
    """The words of `text` that state something: not stop words, pronouns or words of two letters."""
    return {w for w in words(text) if w not in _STOP and w not in _PRONOUNS and len(w) > 2}


def _overlap_problem(text: str, sources: list[str]) -> str | None:
    terms = _stated_terms(text)
    if not terms:
        return None
    have = {_key(w) for w in words("\n".join(sources))}
    shared = {w for w in terms if _key(w) in have}
    if len(shared) >= min(2, len(terms)):
        return None
    return "none of what it states appears in its sources"


def _borrowed_first_person(text: str, passages: list[str], client: list[str]) -> str | None:
    """ "Based on my clinical assessment, she meets the criteria ...": an "I" or "my" copied with the words
    around it from a passage that names the client in the third person is its author's (a therapist, an
    officer), never the client's. Words the client is quoted as saying are inside quotation marks."""
    own = words(outside_quotes(text))
    client_tokens = {w for name in client for w in words(name)}
    for passage in passages:
        folded = words(outside_quotes(passage))
        # Named, not just "she": a client's own earlier statement says "her" of other women.
        about_her = any(w in ("client", "victim", "patient", "petitioner") or w in client_tokens for w in folded)
        if not about_her:
            continue
        joined = f" {' '.join(folded)} "
        for i, word in enumerate(own):
            if word not in _FIRST_PERSON_WORDS or i + 2 >= len(own) or own[i + 1].isdigit():
                continue  # "I-130" is a form, not the client
            phrase = " ".join(own[i : i + 3])
            if f" {phrase} " in joined:
                said = re.sub(r"\bi\b", "I", phrase)
                return f'"{said}" are the words of the passage\'s author, who speaks of the client as someone else'
    return None


def check_sentence(
    text: str,
    *,
    facts: list[dict[str, Any]],
    passages: list[str],
    record: str,
    client: list[str] | None = None,
) -> list[str]:
    """Why the declaration sentence `text` is not faithful to its cited facts (their text and actor),
    the full text of its cited passages and the case record; an empty list when it is.

    `client` is the client's name and aliases; by default, read from the record text's client line."""
    if not facts:
        return ["it cites no evidence"]
    client = client if client is not None else client_names(record)
    sources = [p for p in passages if p] + [record] if record else [p for p in passages if p]
    fact_texts = [str(f.get("text") or "") for f in facts]
    problems = not_narrative(text)
    problems += _quote_problems(text, sources)
    # Contact details are reported once, above, not again as numbers; quoted words were checked as a quote.
    narrative = outside_quotes(text)
    narrative = _without(narrative, (m.span() for pattern, _ in _CONTACT for m in pattern.finditer(narrative)))
    doc = parsed(narrative)
    if _no_verb(doc) and not none_held(narrative):
        problems.append("it is not a sentence: nothing in it is done or is")
    problems += _entity_problems(narrative, doc, sources)
    problems += _claim_problems(doc, facts, sources)
    if not _FIRST_PERSON.search(narrative):
        # Her own acts and feelings she may tell in her words ("I loved our weekends"): the subject checks
        # judge those. A sentence about others states their acts as the documents do.
        problems += _unsourced_act(doc, fact_texts + sources)
    problems += _reversal_problems(text, fact_texts + [p for p in passages if p])
    if _WE.search(text):
        problems += _we_problems(doc, facts, client, [p for p in passages if p])
    if _FIRST_PERSON.search(text):
        problems += _identity_problems(narrative, doc, client, facts)
        if record:
            problems += _status_problems(narrative, record)
        problems += _subject_problems(doc, facts, client, record, [p for p in passages if p])
        borrowed = _borrowed_first_person(text, [p for p in passages if p], client)
        judged = _JUDGED.search(narrative)
        if judged:
            problems.append(f'"{judged.group(0)}" is a judgement of her by someone else, not her own account')
        for problem in (
            _client_as_someone_else(text, client),
            _third_person_victim(text, fact_texts),
            borrowed,
        ):
            if problem:
                problems.append(problem)
    overlap = _overlap_problem(text, sources + fact_texts)
    if overlap and not problems:
        problems.append(overlap)
    sentences = [s.text.strip() for s in doc.sents if s.text.strip()]
    if len(sentences) > 1 and not problems:
        # Several sentences: each that states something must share it with the sources, not lean on the
        # names another of them shares.
        for sentence in sentences:
            terms = _stated_terms(sentence)
            if len(terms) >= 3 and _overlap_problem(sentence, sources + fact_texts):
                problems.append(f'none of what "{sentence}" states appears in its sources')
    return list(dict.fromkeys(problems))


# Verbs of saying frame someone else's act ("Client says he was kind"): who says is not who did.
_FRAMING = frozenset("be have say state tell report explain describe recall remember".split())


def swapped_doer_problems(text: str, passage: str, client: list[str]) -> list[str]:
    """A fact that gives the passage's act to someone else: "He started working at La Estrella Bakery" from
    "Client started working ...", "Client says he married him because ..." from "... she married him
    because ..." (the 1.5B on the bench). An act is someone else's when the passage's every use of the verb
    has a doer of another kind (the client, or anyone else) than the fact's."""
    client_tokens = name_tokens(client)
    passage_doc = parsed(_squash(passage))
    problems = []
    for verb in parsed(text):
        lemma = verb.lemma_.lower()
        if verb.pos_ != "VERB" or lemma in _FRAMING:
            continue
        doer = _doer(verb)
        if doer is None:
            continue
        whose = _whose(doer, "third", client_tokens)
        if whose == "either":
            continue
        theirs = {
            _whose(d, "third", client_tokens)
            for t in passage_doc
            if t.lemma_.lower() == lemma and t.pos_ in ("VERB", "AUX")
            for d in [_doer(t)]
            if d is not None
        }
        if theirs and whose not in theirs and "either" not in theirs:
            someone = "the client" if "client" in theirs else "someone else"
            problems.append(f'it gives "{verb.text}" to "{doer.text}", but its passage says {someone} did it')
    return problems


def check_fact(text: str, *, passage: str, record: str) -> list[str]:
    """Why an extracted fact is not backed by the passage it comes from (or the case record): its
    names, places, dates and numbers must be there, it must not reverse the passage, and it must share
    what it states with it. Empty when it is backed."""
    sources = [s for s in (passage, record) if s]
    if not passage.strip():
        return ["it cites no passage"]
    problems = _entity_problems(text, parsed(text), sources)
    problems += _reversal_problems(text, [passage])
    problems += swapped_doer_problems(text, passage, client_names(record))
    overlap = _overlap_problem(text, [passage])
    if overlap:
        problems.append(overlap)
    else:
        problems += _unsaid_problems(text, passage, record)
    return list(dict.fromkeys(problems))


# A fact's frame around the passage's words ("The client says ...", "Client reports ...").
_FRAME_WORDS = frozenset("says said states stated reports reported told tells explains explained".split())


def _unsaid_problems(text: str, passage: str, record: str) -> list[str]:
    """A fact is the excerpt's own words: one whose words the excerpt does not hold says what it does not.
    The 0.5B and 1.5B, asked for "our children" of a childless couple's intake, answered "Maria and Daniel had a
    child together." — every name in the passage, and not one word of the claim. A word or a quarter of the
    fact's words other than its names (checked as names) may differ (a form of a word, a paraphrase); more
    may not."""
    have = {_key(w) for w in words(f"{passage}\n{record}")}
    lower = " ".join(w for w in re.findall(r"[^\W\d_][\w'-]*", outside_quotes(text)) if not w[0].isupper())
    terms = _stated_terms(lower) - _CLIENT_WORDS - _FRAME_WORDS
    absent = sorted(w for w in terms if _key(w) not in have)
    if len(absent) > len(terms) // 4:
        return [f"its words ({', '.join(absent)}) are not its excerpt's"]
    return []
