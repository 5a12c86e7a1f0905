"""Draft quality on a synthetic VAWA case, measured against gold facts, on the default catalog.

    flock /tmp/affiant-llm.lock .venv/bin/python bench/quality.py [--sections introduction,marriage]
        [--out bench/results/quality_cpu.json] [--timeout 3600]
    .venv/bin/python bench/quality.py --remeasure /tmp/affiant-bench-quality-XXXX   # no model: measure again

1. Makes PDFs of the case's documents (bench/quality_case/*.txt, with casework.pdfgen) and ingests them
   with the case record (bench/quality_case/case.json) through `manage.py ingest`;
2. drafts the case as `manage.py generate` does (generation.headless: the real queues, starting the
   embedded Redis, model host and workers, and stopping them after), with the catalog in
   llmops/models.yaml (LLMOPS_CONFIG is ignored: the default is what is measured);
3. measures the pipeline's draft (version 1) here, on its own — it never trusts the pipeline's gate:
   - `gold_facts_covered`: gold facts (bench/quality_case/gold.json; see its "about") stated by some sentence;
   - `invented_entities`: names (spaCy's PERSON, ORG, GPE, LOC, FAC), dates (compared as whole dates:
     a day as a day, a month as a month) and numbers (digits; a phone number as one number) of the draft that
     no document and not the case record holds;
   - `first_person_ratio`: sentences in the client's voice of all sentences: a first-person pronoun outside
     quotation marks ("He grabbed my arm" is; "He is a U.S. citizen" is not), and no third-person name for the
     client ("the client", "the victim", a bare "Client"); the results file also has the stricter share whose
     subject is "I" or "we" (`first_person_subject_ratio`);
   - `sections_drafted`: sections holding at least one such first-person sentence; `flagged`: sentences
     that carry a flag; `seconds`: the run, from starting the stack to the end of the run (ingestion apart).
Prints progress to stderr and one JSON line last; writes it, with each section's sentences and what was
found in them, each gold fact, the date, machine and catalog, to --out. Runs in a temporary var dir
(SQLite, embedded Redis, logs) on ports of its own, so it never meets `make run` or the tests.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import re
import socket
import sys
import tempfile
import textwrap
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generation.declarations import VAWA  # plain data: no Django needed

REPO = Path(__file__).resolve().parent.parent
VAWA_KEYS = [s.key for s in VAWA.sections]

CASE_DIR = Path(__file__).resolve().parent / "quality_case"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "quality_cpu.json"
CATALOG = REPO / "llmops" / "models.yaml"
PAGE_BREAK = "----- page break -----"
# casework.pdfgen wraps at 90 characters and keeps 51 lines a page; a page of the bench's documents is
# made to fit so no text is cut.
PDF_WRAP, PDF_LINES = 90, 50

# --- measuring a draft: text only, no database -----------------------------------------------------

_MONTH_NAMES = "january february march april may june july august september october november december".split()
_MONTHS = {name: i + 1 for i, name in enumerate(_MONTH_NAMES)}
_MONTHS |= {name[:3]: i + 1 for i, name in enumerate(_MONTH_NAMES)} | {"sept": 9}
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DATE_PATTERNS = [
    re.compile(_MONTH + r"\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<year>\d{4})\b", re.I),
    re.compile(r"\b(?P<day>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH + r",?\s+(?P<year>\d{4})\b", re.I),
    re.compile(r"\b(?P<m>\d{1,2})/(?P<day>\d{1,2})/(?P<year>\d{4}|\d{2})\b"),
    re.compile(r"\b(?P<year>\d{4})-(?P<m>\d{2})-(?P<day>\d{2})\b"),
    re.compile(r"\b" + _MONTH + r",?\s+(?:of\s+)?(?P<year>\d{4})\b", re.I),  # a month alone
    re.compile(r"\b(?P<m>\d{1,2})/(?P<year>\d{4})\b"),  # 6/2015
    re.compile(r"(?<![\d$.,/-])(?P<year>(?:19|20)\d{2})(?![\d,/-]|\.\d)"),  # a year alone
]
_TIME = re.compile(
    r"\b(?P<h>\d{1,2}):(?P<min>\d{2})(?:\s*(?P<ampm>[ap])\.?\s?m\b\.?)?|\b(?P<mil>\d{4})\s+hours\b", re.I
)
# "(520) 555-0187", "A214-886-307", "21-042219" and "1,200" are each one number.
_NUMBER = re.compile(r"\$?(?:\(\d{3}\)\s?)?\d(?:[\d,./-]*\d)?")
_QUOTED = re.compile('"[^"]*"|\u201c[^\u201d]*\u201d|\u2018[^\u2019]*\u2019')
_FIRST_PERSON_SUBJECT = re.compile(r"\bI\b(?!-\d)|\b[Ww]e\b")
_FIRST_PERSON_ANY = re.compile(r"\b(?:I(?!-\d)|[Mm]e|[Mm]y|[Mm]ine|[Mm]yself|[Ww]e|us|[Oo]urs?)\b")  # not "US"
_CLIENT_IN_THIRD_PERSON = re.compile(
    r"\b(?:the|this) (?:client|victim|plaintiff|patient|petitioner|applicant|declarant|self-petitioner)\b|"
    r"\bclient\b",  # "Client was too afraid to speak because he was standing next to me" is half hers
    re.I,
)
_CONTACT = re.compile(r"\(\d{3}\)\s?\d{3}-\d{4}|\b\d{3}-\d{3}-\d{4}\b|[\w.+-]+@[\w-]+\.[\w.]+")
_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
}
_TITLES = {"mr", "mrs", "ms", "miss", "dr", "officer", "ofc", "sgt", "sergeant", "judge", "hon", "deputy", "the"}
# Places and groups any declaration may name without a document naming them.
_ALWAYS_KNOWN = {
    "united states", "u s", "us", "usa", "america", "united states of america", "vawa", "uscis", "dhs", "ice",
    "u s citizenship and immigration services", "department of homeland security", "homeland security",
    "immigration and customs enforcement", "god", "jesus", "christmas", "christmas eve", "new year s eve", "easter",
    "mom", "dad", "mama", "papa", "mommy", "daddy", "english", "spanish", "catholic", "bible",
}  # fmt: skip
_NAME_LABELS = ("PERSON", "ORG", "GPE", "LOC", "FAC")


def fold(text: str) -> str:
    """Lower case, no accents, hyphens and punctuation as spaces, one space between words."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"(?<=\w)-\s*\n\s*(?=\w)", "-", text)  # a word the PDF's lines broke at its hyphen
    return " ".join(re.sub(r"[^a-z0-9$]+", " ", text).split())


def contains(haystack_folded: str, phrase: str) -> bool:
    needle = fold(phrase)
    return bool(needle) and re.search(rf"(?<![a-z0-9]){re.escape(needle)}(?![a-z0-9])", haystack_folded) is not None


@dataclass(frozen=True)
class Found:
    kind: str  # "date", "month", "year", "time", "number"
    value: str  # 2015-06-20, 2015-06, 2015, 23:20, 5205550187
    text: str  # as written
    span: tuple[int, int]


def _year(raw: str) -> int:
    year = int(raw)
    return year + (2000 if year < 50 else 1900) if len(raw) == 2 else year


def find_dates(text: str) -> list[Found]:
    """Dates as whole dates (day, month or year), in the order of the patterns, never overlapping."""
    found: list[Found] = []
    taken: list[tuple[int, int]] = []
    for pattern in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            if any(m.start() < end and start < m.end() for start, end in taken):
                continue
            groups = m.groupdict()
            year = _year(groups["year"])
            month = _MONTHS[groups["month"].lower()] if groups.get("month") else int(groups.get("m") or 0)
            day = int(groups.get("day") or 0)
            try:
                if day:
                    value, kind = date(year, month, day).isoformat(), "date"
                elif month:
                    value, kind = date(year, month, 1).isoformat()[:7], "month"
                else:
                    value, kind = str(year), "year"
            except ValueError:
                continue
            found.append(Found(kind, value, m.group(0), m.span()))
            taken.append(m.span())
    return sorted(found, key=lambda f: f.span)


def find_times(text: str) -> list[Found]:
    found = []
    for m in _TIME.finditer(text):
        if m.group("mil"):
            hour, minute = int(m.group("mil")[:2]), int(m.group("mil")[2:])
        else:
            hour, minute = int(m.group("h")), int(m.group("min"))
            ampm = (m.group("ampm") or "").lower()
            if ampm == "p" and hour < 12:
                hour += 12
            elif ampm == "a" and hour == 12:
                hour = 0
        if hour < 24 and minute < 60:
            found.append(Found("time", f"{hour:02d}:{minute:02d}", m.group(0), m.span()))
    return found


def find_numbers(text: str, *, skip: Iterable[tuple[int, int]] = ()) -> list[Found]:
    """Numbers written with digits outside `skip` (dates, times); a phone or record number is one number."""
    taken = list(skip)
    found = []
    for m in _NUMBER.finditer(text):
        if any(m.start() < end and start < m.end() for start, end in taken):
            continue
        written = m.group(0).rstrip(",./-")
        digits = re.sub(r"\D", "", written)
        if digits:
            found.append(Found("number", digits.lstrip("0") or "0", written, m.span()))
    return found


@dataclass
class Sources:
    """What the documents and the case record hold, to look a draft's names, dates and numbers up in."""

    folded: str
    words: set[str]
    dates: set[str] = field(default_factory=set)
    months: set[str] = field(default_factory=set)
    years: set[str] = field(default_factory=set)
    times: set[str] = field(default_factory=set)
    numbers: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, texts: Iterable[str]) -> Sources:
        text = "\n".join(texts)
        folded = fold(text)
        sources = cls(folded=folded, words=set(folded.split()))
        dates = find_dates(text)
        for d in dates:
            if d.kind == "date":
                sources.dates.add(d.value)
            if d.kind in ("date", "month"):
                sources.months.add(d.value[:7])
            sources.years.add(d.value[:4])
        times = find_times(text)
        sources.times = {t.value for t in times}
        for t in times:  # 2341 hours is also 11:41 pm
            hour, minute = t.value.split(":")
            sources.times.add(f"{int(hour) % 12:02d}:{minute}")
        for n in find_numbers(text, skip=[d.span for d in dates] + [t.span for t in times]):
            sources.numbers.add(n.value)
        # Every run of digits on its own too (a phone's area code, an apartment number in an address).
        sources.numbers |= {digits.lstrip("0") or "0" for digits in re.findall(r"\d+", text)}
        sources.numbers |= {str(n) for w, n in _NUMBER_WORDS.items() if w in sources.words}
        return sources

    def knows_date(self, found: Found) -> bool:
        if found.kind == "date":
            return found.value in self.dates
        if found.kind == "month":
            return found.value in self.months
        return found.value in self.years

    def knows_time(self, found: Found) -> bool:
        hour, minute = found.value.split(":")
        return found.value in self.times or f"{int(hour) % 12:02d}:{minute}" in self.times

    def knows_name(self, name: str) -> bool:
        folded = fold(re.sub("['\u2019]s\\b", "", name))
        words = [w for w in folded.split() if w not in _TITLES]
        if not words or folded in _ALWAYS_KNOWN or " ".join(words) in _ALWAYS_KNOWN:
            return True
        if contains(self.folded, " ".join(words)):
            return True
        # "Mr. Kessler", "Rick" or "Richard Kessler" are known when each of their words is.
        return all(w in self.words for w in words if len(w) > 1)


@cache
def nlp() -> Any:
    """spaCy's small English model, from the package casework.pii_detect uses (installed, never downloaded)."""
    import spacy

    from casework.pii_detect import SPACY_MODEL

    return spacy.load(SPACY_MODEL, exclude=["parser", "lemmatizer"])


def invented_in(sentence: str, sources: Sources) -> list[dict[str, str]]:
    """The names, dates, times and numbers of one sentence that the sources do not hold."""
    invented: list[dict[str, str]] = []
    dates = find_dates(sentence)
    times = find_times(sentence)
    invented += [{"kind": d.kind, "text": d.text} for d in dates if not sources.knows_date(d)]
    invented += [{"kind": "time", "text": t.text} for t in times if not sources.knows_time(t)]
    skip = [d.span for d in dates] + [t.span for t in times]
    invented += [
        {"kind": "number", "text": n.text} for n in find_numbers(sentence, skip=skip) if n.value not in sources.numbers
    ]
    for entity in nlp()(sentence).ents:
        if entity.label_ not in _NAME_LABELS or not re.search(r"[A-Za-z]", entity.text):
            continue
        if any(entity.start_char < end and start < entity.end_char for start, end in skip):
            continue
        if not sources.knows_name(entity.text):
            invented.append({"kind": entity.label_.lower(), "text": entity.text})
    return invented


def first_person(sentence: str) -> bool:
    """Whether the sentence speaks in the client's voice ("He hit me" does; "The client was born" does not)."""
    own = _QUOTED.sub(" ", sentence)
    return _FIRST_PERSON_ANY.search(own) is not None and _CLIENT_IN_THIRD_PERSON.search(own) is None


def first_person_subject(sentence: str) -> bool:
    """Whether "I" or "we" is a subject of the sentence (they only ever are), outside what it quotes."""
    return _FIRST_PERSON_SUBJECT.search(_QUOTED.sub(" ", sentence)) is not None


def date_keys(sentence: str) -> set[str]:
    keys = set()
    for d in find_dates(sentence):
        keys.add(d.value)
        if d.kind == "date":
            keys.add(d.value[:7])
    return keys


_DATE_PHRASE = re.compile(r"\d{4}-\d{2}(?:-\d{2})?")


def matches(sentence: str, groups: list[list[str]]) -> bool:
    """Every group has a phrase in the sentence (see gold.json's "about")."""
    folded, keys = fold(sentence), date_keys(sentence)
    return all(
        any(phrase in keys if _DATE_PHRASE.fullmatch(phrase) else contains(folded, phrase) for phrase in group)
        for group in groups
    )


def measure(sections: list[dict[str, Any]], gold: list[dict[str, Any]], sources: Sources) -> dict[str, Any]:
    """`sections`: [{key, heading, text, sentences: [{text, flags}], ...}] as the draft's version holds them.

    Returns {"summary": the bench's figures but llm_calls and seconds, "extra": more figures for the results
    file, "sections": per-section detail, "gold": per-fact detail}."""
    detail = []
    all_sentences: list[tuple[str, dict[str, Any]]] = []
    for section in sections:
        rows = []
        for sentence in section.get("sentences") or []:
            text = sentence["text"]
            row = {
                "text": text,
                "first_person": first_person(text),
                "first_person_subject": first_person_subject(text),
                "contact_details": bool(_CONTACT.search(text)),
                "invented": invented_in(text, sources),
                "flags": [f.get("kind") for f in sentence.get("flags") or []],
            }
            rows.append(row)
            all_sentences.append((section["key"], row))
        detail.append(
            {
                "key": section["key"],
                "heading": section.get("heading", ""),
                "words": len((section.get("text") or "").split()),
                "first_person_sentences": sum(r["first_person"] for r in rows),
                "sentences": rows,
                "note": section.get("note", ""),
                "missing": section.get("missing", []),
                # What the draft was written from, to tell a fact never found from one the gate removed.
                "facts": [
                    {k: f.get(k) for k in ("id", "need", "actor", "text", "document_name")}
                    for f in section.get("facts") or []
                ],
            }
        )
    gold_detail = []
    for fact in gold:
        hits = [(key, row["text"]) for key, row in all_sentences if matches(row["text"], fact["match"])]
        gold_detail.append(
            {
                "id": fact["id"],
                "section": fact["section"],
                "covered": bool(hits),
                "in_section": any(key == fact["section"] for key, _ in hits),
                "sentence": hits[0][1] if hits else None,
            }
        )
    rows = [row for _, row in all_sentences]
    summary = {
        "sections_drafted": sum(1 for s in detail if s["first_person_sentences"]),
        "sections": len(sections),
        "sentences": len(rows),
        "words": sum(s["words"] for s in detail),
        "gold_facts_covered": sum(1 for g in gold_detail if g["covered"]),
        "gold_facts": len(gold),
        "invented_entities": sum(len(r["invented"]) for r in rows),
        "flagged": sum(1 for r in rows if r["flags"]),
        "first_person_ratio": round(sum(r["first_person"] for r in rows) / len(rows), 3) if rows else 0.0,
    }
    extra = {
        "first_person_subject_ratio": round(sum(r["first_person_subject"] for r in rows) / len(rows), 3)
        if rows
        else 0.0,
        "gold_facts_in_their_section": sum(1 for g in gold_detail if g["in_section"]),
        "sentences_with_contact_details": sum(1 for r in rows if r["contact_details"]),
        "sections_with_text": sum(1 for s in detail if s["words"]),
    }
    return {"summary": summary, "extra": extra, "sections": detail, "gold": gold_detail}


# --- the case's files ------------------------------------------------------------------------------


def pdf_pages(text: str) -> list[str]:
    """The document's pages: split at its page-break lines, and again where one holds too many lines."""
    pages: list[str] = []
    for part in text.split(PAGE_BREAK):
        lines: list[str] = []
        for paragraph in part.strip("\n").split("\n"):
            lines.extend(textwrap.wrap(paragraph, PDF_WRAP) or [""])
        pages.extend("\n".join(lines[i : i + PDF_LINES]) for i in range(0, len(lines), PDF_LINES))
    return pages


def write_pdfs(into: Path) -> list[Path]:
    from casework.pdfgen import text_pdf

    into.mkdir(parents=True, exist_ok=True)
    paths = []
    for source in sorted(CASE_DIR.glob("[0-9]*.txt")):
        path = into / f"{source.stem}.pdf"
        path.write_bytes(text_pdf(pdf_pages(source.read_text(encoding="utf-8"))))
        paths.append(path)
    return paths


def load_gold() -> list[dict[str, Any]]:
    facts: list[dict[str, Any]] = json.loads((CASE_DIR / "gold.json").read_text(encoding="utf-8"))["facts"]
    for fact in facts:
        if fact["section"] not in VAWA_KEYS:
            raise SystemExit(f"gold fact {fact['id']}: no VAWA section {fact['section']!r}")
    return facts


def record_texts(case: Any) -> list[str]:
    """Every field the case record holds for its parties, as text (dates as ISO and as written in the US)."""
    texts = []
    for party in case.parties.all():
        texts += [party.name, *party.aliases, party.a_number, party.country, party.language]
        texts.append(party.immigration_status)
        if party.birth_date:
            texts += [party.birth_date.isoformat(), party.birth_date.strftime("%B %d, %Y")]
    return [t for t in texts if t]


# --- the run -------------------------------------------------------------------------------------


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def catalog_detail() -> dict[str, Any]:
    from llmops.models import Route

    return {
        "file": str(CATALOG.relative_to(REPO)),
        "sha256": hashlib.sha256(CATALOG.read_bytes()).hexdigest(),
        "routes": {
            route.name: [f"{m.name} ({m.remote_name})" for m in route.ordered_models()]
            for route in Route.objects.order_by("name")
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", default="", help="comma-separated VAWA section keys (default: all)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the run")
    parser.add_argument("--redis-port", type=int, default=6396)
    parser.add_argument("--control-port", type=int, default=8796)
    parser.add_argument(
        "--remeasure",
        type=Path,
        metavar="VAR_DIR",
        help="measure again the last run of an earlier bench's var dir (printed as it starts); runs no model",
    )
    args = parser.parse_args()
    keys = [k.strip() for k in args.sections.split(",") if k.strip()]
    unknown = sorted(set(keys) - set(VAWA_KEYS))
    if unknown:
        parser.error(f"no VAWA section {', '.join(unknown)}; the sections are {', '.join(VAWA_KEYS)}")
    if args.remeasure:
        remeasure(args.remeasure, args.out)
        return
    for port in (args.redis_port, args.control_port):
        if not _port_free(port):
            raise SystemExit(f"port {port} is in use: another stack would be met (--redis-port, --control-port)")
    var_dir = Path(tempfile.mkdtemp(prefix="affiant-bench-quality-"))
    _setup_django(
        var_dir,
        AFFIANT_EMBEDDED_REDIS_PORT=str(args.redis_port),
        LLAMACPP_CONTROL_URL=f"http://127.0.0.1:{args.control_port}",
        AFFIANT_DRAFT_SECTIONS=",".join(keys),
    )
    from django.core.management import call_command

    from casework.models import Case
    from generation.headless import generate

    load_gold()  # a bad gold file stops the bench before the run, not after
    print(f"[bench] var dir {var_dir}", file=sys.stderr)
    call_command("migrate", verbosity=0)
    call_command("load_llmops", stdout=sys.stderr)
    from llmops.models import Host, HostKind

    for host in Host.objects.filter(kind=HostKind.LLAMACPP, enabled=True).exclude(url=""):
        print(f"[bench] warning: host {host.name} has its own url {host.url}, shared, not the bench's", file=sys.stderr)
    started = time.monotonic()
    out = io.StringIO()
    pdfs = [str(path) for path in write_pdfs(var_dir / "pdfs")]
    call_command("ingest", "--case-json", str(CASE_DIR / "case.json"), *pdfs, stdout=out)
    ingested = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    ingest = {"seconds": round(time.monotonic() - started, 1), "documents": ingested[:-1]}
    case_id = ingested[-1]["case"]
    unread = [line["file"] for line in ingested[:-1] if line["status"] != "indexed"]
    if unread:
        raise SystemExit(f"documents not indexed: {', '.join(unread)}")
    print(f"[bench] ingested {len(ingested) - 1} documents in {ingest['seconds']}s", file=sys.stderr)

    run, summary = generate(
        case_for=lambda: Case.objects.get(pk=case_id),
        template="vawa",
        created_by=lambda case: None,
        timeout=args.timeout,
    )
    report(run, summary, ingest=ingest, out=args.out)
    if run.status != "completed":
        sys.exit(1)


def remeasure(var_dir: Path, out: Path) -> None:
    if not (var_dir / "affiant.sqlite3").exists():
        raise SystemExit(f"{var_dir} holds no bench database (affiant.sqlite3)")
    _setup_django(var_dir)
    from generation.models import DeclarationRun
    from generation.report import run_summary

    run = DeclarationRun.objects.filter(regenerates=None).order_by("-pk").first()
    if run is None or not run.is_finished:
        raise SystemExit(f"{var_dir} holds no finished run")
    summary = run_summary(run)
    # The run's own time: the stack's start, counted in a bench run's seconds, is not known here.
    summary["seconds"] = round((run.finished_at - run.created_at).total_seconds(), 1) if run.finished_at else None
    report(run, summary, ingest=None, out=out)


def _setup_django(var_dir: Path, **env: str) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings", AFFIANT_VAR_DIR=str(var_dir), AFFIANT_LOG_LEVEL="WARNING", **env
    )
    for name in ("DATABASE_URL", "REDIS_URL", "LLMOPS_CONFIG"):
        os.environ.pop(name, None)
    import django

    django.setup()


def report(run: Any, run_summary: dict[str, Any], *, ingest: dict[str, Any] | None, out: Path) -> None:
    """Measure the run's draft (its first version), print the JSON line and write the results file."""
    from generation.models import DraftSection

    case = run.case
    sources = Sources.of(
        [page.text for document in case.documents.all() for page in document.pages.all()] + record_texts(case)
    )
    fields = ("key", "heading", "text", "sentences", "note", "missing", "facts")
    drafted = DraftSection.objects.filter(version__run=run, version__number=1).order_by("order")
    sections = [{f: getattr(s, f) for f in fields} for s in drafted]
    measured = measure(sections, load_gold(), sources)
    summary = {**measured["summary"], "llm_calls": run_summary["llm_calls"], "seconds": run_summary["seconds"]}
    result = {
        **summary,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "host": platform.node(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "catalog": catalog_detail(),
        "sections_asked": [s["key"] for s in sections],
        **measured["extra"],
        "run": run_summary,
        "ingest": ingest,
        "detail": {"sections": measured["sections"], "gold": measured["gold"]},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"[bench] wrote {out}", file=sys.stderr)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
