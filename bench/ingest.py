"""Ingestion speed against its raw parts, in one run: pages per second and peak memory.

    .venv/bin/python bench/ingest.py [--rounds 3]

1. raw: pypdf text extraction plus MiniLM embedding of the same chunks, in this process;
2. full: `ingest_document` as a worker runs it (parsing in a limited child process, pages, chunks,
   embeddings, the case's FAISS index, PII screening, database writes).
Both read the same files (the text PDFs of ../shared/fixtures/sample-pdfs and the demo documents),
interleaved round by round, after one warm-up of each. Prints pages/s for each, full as a share of raw
(goal: >= 0.8), and the peak resident memory of this process; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "sample-pdfs"
TEXT_SAMPLES = ("004", "006", "011", "021", "026")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        AFFIANT_VAR_DIR=tempfile.mkdtemp(prefix="affiant-bench-ingest-"),
        AFFIANT_LOG_LEVEL="WARNING",
    )
    os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    from django.core.management import call_command
    from pypdf import PdfReader

    from casework.chunking import chunk_pages
    from casework.demo import DEMO_DOCUMENTS
    from casework.embeddings import embed
    from casework.ingest import ingest_document
    from casework.intake import CaseInput, PartyInput, do_create_case
    from casework.models import Firm
    from casework.pdfgen import text_pdf
    from casework.uploads import do_store_upload

    call_command("migrate", verbosity=0)
    files: list[tuple[str, bytes]] = [(name, text_pdf(pages)) for name, pages in DEMO_DOCUMENTS.items()]
    files += [(p.name, p.read_bytes()) for p in sorted(SAMPLES.glob("*.pdf")) if p.name[:3] in TEXT_SAMPLES]
    firm = Firm.objects.create(name="Bench")

    def raw() -> int:
        pages = 0
        for _, data in files:
            reader = PdfReader(io.BytesIO(data))
            texts = [(i + 1, page.extract_text() or "") for i, page in enumerate(reader.pages)]
            embed([c.text for c in chunk_pages(texts)])
            pages += len(texts)
        return pages

    def full(round_number: int) -> int:
        case = do_create_case(
            firm=firm,
            created_by=None,
            assignees=[],
            data=CaseInput(
                title=f"bench {round_number}-{time.monotonic()}",
                case_type="vawa_spouse",
                client=PartyInput(role="client", name="Maria Elena Ramírez López", a_number="A201555013"),
            ),
        )
        pages = 0
        for name, data in files:
            document = do_store_upload(case=case, name=name, stream=io.BytesIO(data), uploaded_by=None).document
            result = ingest_document(document.pk)
            pages += result.pages if result else 0
        return pages

    raw()  # warm-up: the embedding model
    full(0)  # warm-up: the PII models
    times = {"raw": 0.0, "full": 0.0}
    pages = {"raw": 0, "full": 0}
    for round_number in range(1, args.rounds + 1):
        for way in ("raw", "full") if round_number % 2 else ("full", "raw"):
            started = time.perf_counter()
            pages[way] += raw() if way == "raw" else full(round_number)
            times[way] += time.perf_counter() - started
    rate = {way: pages[way] / times[way] for way in times}
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{len(files)} files, {pages['raw'] // args.rounds} pages a round, {args.rounds} rounds", file=sys.stderr)
    print(f"raw (pypdf + MiniLM): {rate['raw']:.1f} pages/s", file=sys.stderr)
    print(
        f"full ingest: {rate['full']:.1f} pages/s ({rate['full'] / rate['raw']:.2f}x raw; goal >= 0.8)", file=sys.stderr
    )
    print(f"peak memory of this process: {peak_mib:.0f} MiB", file=sys.stderr)
    print(
        json.dumps(
            {
                "raw_pages_per_s": round(rate["raw"], 1),
                "full_pages_per_s": round(rate["full"], 1),
                "full_vs_raw": round(rate["full"] / rate["raw"], 2),
                "peak_rss_mib": round(peak_mib),
            }
        )
    )


if __name__ == "__main__":
    main()
