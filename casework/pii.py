"""The case's PII vault: its known parties' names, A-numbers and birth dates, and stable placeholders.

Text bound for a model host outside the firm goes through `CaseVault.redact`, and the answer comes
back through `restore`. The vault is not stored: it is rebuilt from the case's parties the same way
every time, so a party keeps its placeholder (`<PERSON_1>`) from one call to the next.

Matching is done on a folded copy of the text (lower case, accents stripped) whose positions map
back to the original, so "MARTINEZ PEREZ" and "Martínez-Pérez" are found alike and replaced where
they stand.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from casework.models import Case, Party

PERSON = "PERSON"
A_NUMBER = "A_NUMBER"
DATE_OF_BIRTH = "DATE_OF_BIRTH"
_KIND_ORDER = {PERSON: 0, A_NUMBER: 1, DATE_OF_BIRTH: 2}

# A name part standing alone is redacted only when it is at least this long and not a common word:
# shorter ones ("Li", "Jo") would strip ordinary text for little gain, since the full forms still match.
_MIN_LONE_NAME_LETTERS = 3

# Words that are also given names or surnames. Alone they are left in place: redacting every "will"
# or "may" would wreck the text, and the name's fuller forms are still redacted.
_COMMON_WORDS = frozenset(
    """
    a about after all also an and april art as at august autumn be bell bill black brown but by can
    case chance chase child christian close cook court dawn day do don drew early east fall free
    friend gift gold grace gray green grey guy hall happy heart her hill him his honey hope house joy
    judge june just justice king lane light little long love lucky major march mark may mercy miles
    mister mother new north page park poor price rain ray rich rock rose school see she snow son south
    spring star stone storm street summer the to true way west white will winter wood worth young your
    person number date birth mr mrs ms dr jr sr ii iii iv
    """.split()
)
# Particles of compound surnames: never a name alone.
_PARTICLES = frozenset("da das de del della der di do dos du el la las le los san st van von y".split())

_MONTHS: dict[int, tuple[str, ...]] = {
    1: ("january", "jan", "enero", "ene"),
    2: ("february", "feb", "febrero"),
    3: ("march", "mar", "marzo"),
    4: ("april", "apr", "abril", "abr"),
    5: ("may", "mayo"),
    6: ("june", "jun", "junio"),
    7: ("july", "jul", "julio"),
    8: ("august", "aug", "agosto", "ago"),
    9: ("september", "sept", "sep", "septiembre", "setiembre", "set"),
    10: ("october", "oct", "octubre"),
    11: ("november", "nov", "noviembre"),
    12: ("december", "dec", "diciembre", "dic"),
}
_MONTH_NAMES = ("", *(names[0].capitalize() for names in _MONTHS.values()))

_WORD = re.compile(r"[^\W_]+")
# Placeholders as a model may give them back: bracketed any way, or bare, in any case.
_PLACEHOLDER = re.compile(r"(?:[<\[{]\s*)?\b([A-Z][A-Z0-9]*(?:_[A-Z][A-Z0-9]*)*)_(\d+)\b(?:\s*[>\]}])?", re.IGNORECASE)


@dataclass(frozen=True)
class VaultEntry:
    """One known entity. `variants` are the written forms it was built from; the matcher also
    accepts their differences in case, accents, spacing, hyphens and punctuation."""

    placeholder: str
    kind: str
    value: str
    variants: tuple[str, ...]


@dataclass(frozen=True)
class _Candidate:
    kind: str
    value: str
    sort_key: tuple[int, ...]
    variants: tuple[str, ...]
    patterns: tuple[tuple[str, int], ...]  # (regex on folded text, length of the folded form)


class CaseVault:
    def __init__(self, entries: Sequence[VaultEntry], patterns: Sequence[tuple[str, int, str]]) -> None:
        """`patterns` are (regex on folded text, length of its folded form, placeholder)."""
        self.entries = tuple(entries)
        self._values = {entry.placeholder: entry.value for entry in self.entries}
        # Longest forms first: at any position the alternation takes the first that matches, so
        # "Daniel Robert Hayes" becomes one placeholder, not three.
        ordered = sorted(patterns, key=lambda p: (-p[1], p[0]))
        self._placeholders = {f"p{i}": placeholder for i, (_, _, placeholder) in enumerate(ordered)}
        self._regex = (
            re.compile("|".join(f"(?P<p{i}>{regex})" for i, (regex, _, _) in enumerate(ordered))) if ordered else None
        )

    @classmethod
    def for_case(cls, case: Case) -> CaseVault:
        """The parties' entities, then whatever else PII screening found in the case's pages."""
        parties = list(case.parties.order_by("id"))
        vault = cls.from_parties(parties)
        found = _found_in_case(case, vault)
        return cls.from_parties(parties, found=found) if found else vault

    @classmethod
    def from_parties(cls, parties: Iterable[Party], found: Sequence[tuple[str, str]] = ()) -> CaseVault:
        """Build the vault from parties in the order they were added, then the (kind, text) found in the
        documents in the order they stand; that order fixes the numbers, so adding to it renumbers nothing."""
        candidates = _candidates(list(parties))
        candidates.sort(key=lambda c: (_KIND_ORDER[c.kind], c.sort_key))
        candidates.extend(_found_candidates(found))
        entries: list[VaultEntry] = []
        patterns: list[tuple[str, int, str]] = []
        counts: dict[str, int] = {}
        for candidate in candidates:
            counts[candidate.kind] = counts.get(candidate.kind, 0) + 1
            placeholder = f"<{candidate.kind}_{counts[candidate.kind]}>"
            entries.append(VaultEntry(placeholder, candidate.kind, candidate.value, candidate.variants))
            patterns.extend((regex, length, placeholder) for regex, length in candidate.patterns)
        return cls(entries, patterns)

    def redact(self, text: str) -> str:
        """The text with every known entity replaced by its placeholder."""
        if self._regex is None or not text:
            return text
        folded, origins = fold_with_origins(text)
        pieces: list[str] = []
        done = 0
        for match in self._regex.finditer(folded):
            start, end = original_span(text, origins, match.start(), match.end())
            if start < done:
                continue  # inside a character that folded to several (a ligature) already replaced
            pieces.append(text[done:start])
            pieces.append(self._placeholders[str(match.lastgroup)])
            done = end
        pieces.append(text[done:])
        return "".join(pieces)

    def restore(self, text: str) -> str:
        """The text with each of this vault's placeholders replaced by its entity's value."""

        def value(match: re.Match[str]) -> str:
            placeholder = f"<{match.group(1).upper()}_{int(match.group(2))}>"
            return self._values.get(placeholder, match.group(0))

        return _PLACEHOLDER.sub(value, text)


def _found_in_case(case: Case, known: CaseVault) -> list[tuple[str, str]]:
    """Distinct (kind, text) of the case's PII findings that the parties' entities do not already cover,
    in document, page and position order."""
    from casework.models import PiiFinding

    seen: set[tuple[str, str]] = set()
    found: list[tuple[str, str]] = []
    findings = (
        PiiFinding.objects.filter(page__document__case=case)
        .select_related("page")
        .order_by("page__document__uploaded_at", "page__document_id", "page__number", "start")
    )
    for finding in findings:
        text = " ".join(finding.text.split())
        key = (finding.kind, fold(text))
        if not text or key in seen or _PLACEHOLDER.fullmatch(known.redact(text).strip()):
            continue  # already one of the parties' entities
        seen.add(key)
        found.append((finding.kind, text))
    return found


def _found_candidates(found: Sequence[tuple[str, str]]) -> list[_Candidate]:
    candidates = []
    for position, (kind, text) in enumerate(found):
        built = name_regex(text) if kind == PERSON else _literal_regex(text)
        if built is None:
            continue
        regex, length = built
        # After the parties' entities of every kind, so that a new finding never renumbers one of theirs.
        candidates.append(
            _Candidate(kind=kind, value=text, sort_key=(10**6, position), variants=(text,), patterns=((regex, length),))
        )
    return candidates


def _literal_regex(text: str) -> tuple[str, int] | None:
    """A found string as written, tolerant of case, accents and spacing (addresses, numbers, e-mails)."""
    folded = fold(text)
    pieces = [re.escape(piece) for piece in folded.split()]
    if not pieces:
        return None
    return r"(?<!\w)" + r"\s+".join(pieces) + r"(?!\w)", len(folded)


@dataclass(frozen=True)
class CaseRedactor:
    """The case's vault, and the client's consent to external models as the case records it when the runner
    builds this, just before sending: a call queued with consent does not go out once it is withdrawn."""

    vault: CaseVault
    consent_external: bool

    def redact(self, text: str) -> str:
        return self.vault.redact(text)

    def restore(self, text: str) -> str:
        return self.vault.restore(text)

    def allows_external(self) -> bool:
        return self.consent_external


def redactor_for_case(case_id: int) -> CaseRedactor:
    """The redactor the LLM runner builds, by dotted path, for a call about this case."""
    case = Case.objects.get(pk=case_id)
    return CaseRedactor(vault=CaseVault.for_case(case), consent_external=case.consent_external)


# --- folding ----------------------------------------------------------------------------------


def fold(text: str) -> str:
    return fold_with_origins(text)[0]


def _fold_char(char: str) -> str:
    decomposed = unicodedata.normalize("NFKD", char.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fold_with_origins(text: str) -> tuple[str, list[int] | None]:
    """Lower-cased, accent-free text, and for each of its characters the original's index
    (None when they are the same, as for ASCII text)."""
    if text.isascii():
        return text.lower(), None
    folded: list[str] = []
    origins: list[int] = []
    for index, char in enumerate(text):
        piece = char.lower() if char.isascii() else _fold_char(char)
        folded.append(piece)
        origins.extend([index] * len(piece))
    return "".join(folded), origins


def original_span(text: str, origins: list[int] | None, start: int, end: int) -> tuple[int, int]:
    if origins is None:
        return start, end
    original_start = origins[start]
    original_end = origins[end - 1] + 1
    # Accents written as separate combining characters fold to nothing; they go with their letter.
    while original_end < len(text) and unicodedata.combining(text[original_end]):
        original_end += 1
    return original_start, original_end


# --- names ------------------------------------------------------------------------------------


def _separator_regex(separator: str) -> str:
    if "," in separator:
        return r"\s*,\s*"
    if "'" in separator or "\u2019" in separator:
        return r"\s*['\u2019`]?\s*"
    if "." in separator:
        return r"\.?[\s\-]*"
    # Spaces and hyphens stand for each other: Martínez-Pérez is also written Martinez Perez.
    return r"[\s\-\u2010\u2011\u2013]+"


def name_regex(form: str) -> tuple[str, int] | None:
    folded = fold(" ".join(form.split()))
    words = _WORD.findall(folded)
    if not words:
        return None
    separators = _WORD.split(folded)[1:-1]
    parts = [re.escape(words[0])]
    for separator, word in zip(separators, words[1:], strict=True):
        parts.append(_separator_regex(separator))
        parts.append(re.escape(word))
    # Word edges, so "Jane" is not found in "Janet"; a possessive ('s) stays outside the match.
    return r"(?<!\w)" + "".join(parts) + r"(?!\w)", len(folded)


def _stands_alone(part: str) -> bool:
    letters = "".join(_WORD.findall(fold(part)))
    return len(letters) >= _MIN_LONE_NAME_LETTERS and letters not in _COMMON_WORDS and letters not in _PARTICLES


def name_forms(written: str) -> list[str]:
    """The ways a name is written: as given, "LAST, First", first and last only, an initial and
    the surname, and the first name and surnames alone where they are distinctive enough."""
    written = " ".join(written.split())
    name = written
    if "," in name:  # entered as "LAST, First"
        last, _, rest = name.partition(",")
        name = f"{rest.strip()} {last.strip()}".strip()
    tokens = name.split()
    if not tokens:
        return []
    forms = [written, name]
    # Every split into given names and surnames: a name does not say where its surname starts
    # (María José Martínez Pérez has two of each).
    for split in range(1, len(tokens)):
        given, surnames = tokens[:split], tokens[split:]
        first, surname = given[0], " ".join(surnames)
        forms += [
            f"{surname}, {' '.join(given)}",
            f"{surname}, {first}",
            f"{surname} {first}",
            f"{first} {surname}",
            f"{first[0]}. {surname}",
            f"{first} {surnames[0]}",
            f"{surnames[0]}, {first}",
        ]
        if "-" in surnames[0]:
            forms.append(f"{first} {surnames[0].split('-')[0]}")
    lone = [tokens[0]]
    if len(tokens) > 1:
        lone += [tokens[-1], *tokens[-1].split("-")]
    if len(tokens) >= 4:  # two given names and two surnames: the first surname is used alone too
        lone += [tokens[-2], *tokens[-2].split("-")]
    if len(tokens) == 1 and tokens[0].lower() in _COMMON_WORDS:
        forms = []  # a one-word name that is also a common word ("Will") cannot stand alone
    forms += [part for part in lone if _stands_alone(part)]
    return forms


# --- A-numbers and dates of birth --------------------------------------------------------------


def _digits_regex(digits: str) -> str:
    # Any spacing, hyphen or dot between digits: A 123 456 789, A# 123-456-789.
    return r"[\s\-.]?".join(digits)


def a_number_regexes(raw: str) -> tuple[str, tuple[str, ...], tuple[str, ...]] | None:
    """(canonical value, written variants, regexes) for an A-number, or None if it is not one."""
    digits = re.sub(r"\D", "", raw)
    if not 7 <= len(digits) <= 9:
        return None
    significant = digits.lstrip("0") or "0"
    # An 8-digit A-number is also written with a leading zero, and a 9-digit one may lose it.
    padding = 9 - len(significant)
    digits_re = "".join(r"(?:0[\s\-.]?)?" for _ in range(padding)) + _digits_regex(significant)
    prefixed = r"(?<!\w)a\s*(?:[#\-.:]\s*)*" + digits_re + r"(?![0-9])"
    # The digits alone are this person's A-number too: after "A-number:" and anywhere else.
    bare = r"(?<![0-9])" + digits_re + r"(?![0-9])"
    variants = tuple(dict.fromkeys([f"A{digits}", f"A{significant.zfill(9)}", significant.zfill(9)]))
    return f"A{digits}", variants, (prefixed, bare)


def birth_date_regexes(born: date) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """(canonical value, written variants, regexes) for a date of birth in the usual formats."""
    year, short_year = str(born.year), f"{born.year % 100:02d}"
    month = rf"0?{born.month}" if born.month < 10 else str(born.month)
    day = rf"0?{born.day}" if born.day < 10 else str(born.day)
    month_name = "(?:" + "|".join(sorted(_MONTHS[born.month], key=len, reverse=True)) + r")\.?"
    ordinal = r"(?:st|nd|rd|th)?"
    sep = r"[\-/.]"
    any_year = rf"(?:{year}|{short_year})"
    numeric = [
        rf"{year}{sep}{month}{sep}{day}",  # 1990-04-12
        rf"{month}{sep}{day}{sep}{any_year}",  # 04/12/1990, 4/12/90
        rf"{day}{sep}{month}{sep}{any_year}",  # 12/04/1990, as Latin American records write it
    ]
    written = [
        rf"{month_name}\s*{day}{ordinal},?\s*{year}",  # April 12, 1990
        rf"{day}{ordinal}(?:\s+of)?[\s\-]*{month_name},?[\s\-]*{year}",  # 12 April 1990, 12-APR-1990
        rf"{day}\s+de\s+{month_name}\s+(?:de|del)\s+{year}",  # 12 de abril de 1990
    ]
    regexes = tuple(rf"(?<![0-9]){r}(?![0-9])" for r in numeric) + tuple(rf"(?<!\w){r}(?!\w)" for r in written)
    long_form = f"{_MONTH_NAMES[born.month]} {born.day}, {born.year}"
    variants = (
        born.isoformat(),
        born.strftime("%m/%d/%Y"),
        f"{born.month}/{born.day}/{born.year}",
        long_form,
        f"{born.day} {_MONTH_NAMES[born.month]} {born.year}",
    )
    return long_form, variants, regexes


# --- building ---------------------------------------------------------------------------------


def _candidates(parties: list[Party]) -> list[_Candidate]:
    candidates: list[_Candidate] = []
    # Name forms first: a form two parties share ("Doe" for a mother and her child) is an entity of
    # its own that restores to itself, so it is neither left in the text nor given to one of them.
    owners: dict[str, list[int]] = {}
    first_form: dict[str, tuple[str, int]] = {}
    seen_order: list[str] = []
    for index, party in enumerate(parties):
        # `aliases` is JSON: a list from the intake form, but a hand-edited row may hold one string.
        aliases = [party.aliases] if isinstance(party.aliases, str) else list(party.aliases or ())
        for written in (party.name, *(str(alias) for alias in aliases)):
            for form in name_forms(written):
                built = name_regex(form)
                if built is None:
                    continue
                regex, length = built
                if regex not in first_form:
                    first_form[regex] = (form, length)
                    seen_order.append(regex)
                if index not in owners.setdefault(regex, []):
                    owners[regex].append(index)
    for index, party in enumerate(parties):
        own = [regex for regex in seen_order if owners[regex] == [index]]
        if own:
            candidates.append(
                _Candidate(
                    kind=PERSON,
                    value=" ".join(party.name.split()),
                    sort_key=(index,),
                    variants=tuple(dict.fromkeys(first_form[regex][0] for regex in own)),
                    patterns=tuple((regex, first_form[regex][1]) for regex in own),
                )
            )
    for position, regex in enumerate(seen_order):
        if len(owners[regex]) > 1:
            form, length = first_form[regex]
            candidates.append(
                _Candidate(
                    kind=PERSON,
                    value=form,
                    # After every party's own entity, so that adding a party never renumbers another.
                    sort_key=(len(parties), position),
                    variants=(form,),
                    patterns=((regex, length),),
                )
            )
    seen_values: set[tuple[str, str]] = set()
    for index, party in enumerate(parties):
        found: list[tuple[str, tuple[str, tuple[str, ...], tuple[str, ...]]]] = []
        a_number = a_number_regexes(party.a_number) if party.a_number else None
        if a_number is not None:
            found.append((A_NUMBER, a_number))
        if party.birth_date:
            found.append((DATE_OF_BIRTH, birth_date_regexes(party.birth_date)))
        for kind, (value, variants, regexes) in found:
            if (kind, value) in seen_values:
                continue  # twins share a birth date: one entity, one placeholder
            seen_values.add((kind, value))
            candidates.append(
                _Candidate(
                    kind=kind,
                    value=value,
                    sort_key=(index,),
                    variants=variants,
                    patterns=tuple((regex, len(variants[0])) for regex in regexes),
                )
            )
    return candidates
