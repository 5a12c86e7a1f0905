"""Calibrate the score stage: which MiniLM layer, which comparison, and which threshold tell a supported
draft sentence from an invented one.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bertscore_calibration.py

Passages are the paragraphs of the demo case's documents (casework/demo.py), as the drafter cites them.
Each passage has first-person sentences that paraphrase it ("supported"), sentences that invent an event
about the same people ("invented"), and sentences about something else entirely ("unrelated"). A few
"altered" sentences copy a passage but change one fact (a place, a year, a negation); they are reported
apart and left out of the threshold, to show what BERTScore cannot see.

For every num_layers (1..6) and three comparisons, it prints the score ranges and the separation:
  passage_f1   F1 of the sentence against the whole cited passage;
  passage_p    precision against the whole passage (how much of the sentence the passage covers);
  window_f1    F1 against the best window of one or two consecutive passage sentences (what
               generation.scoring does).
For each: AUC (the chance a supported sentence outscores an unsupported one), d' (the distance between
the means in pooled standard deviations), the gap (lowest supported minus highest unsupported), and the
threshold with the best balanced accuracy (the highest of equals: a missed invention costs more than a
false flag). "chunk_drop" is how much the mean supported score falls when each passage is padded with
the paragraphs after it to a production-sized chunk (>= 900 characters): a score that depends on chunk
length needs a threshold per length.
The last line is one JSON object: every variant, and generation.scoring.sentence_support on the same
items (the production path) with how many of each kind AFFIANT_BERTSCORE_THRESHOLD flags.
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Each passage is found by a phrase in it, so the demo documents may change without renumbering here.
ITEMS: dict[str, dict[str, list[str]]] = {
    "church picnic": {
        "supported": [
            "I met Daniel at a church picnic in Houston in March 2015.",
            "On our first date Daniel took me to a Mexican restaurant on Westheimer Road.",
            "He proposed to me in December 2015 at the park where we first met.",
        ],
        "invented": ["I met Daniel in 2012 through a friend at my job in Dallas."],
        "unrelated": ["My brother bought a used car in Phoenix last summer."],
        "altered": ["I met Daniel at a birthday party in Dallas in March 2015."],
    },
    "Quetzaltenango with her mother": {
        "supported": [
            "I grew up in Quetzaltenango with my mother and my two younger brothers.",
            "I came to the United States in August 2013 on a tourist visa to visit my cousin in Houston.",
        ],
        "invented": ["I crossed the border on foot in 2009 with a group of strangers."],
        "unrelated": ["I studied nursing at a university in Mexico City."],
    },
    "Harris County Civil Courthouse": {
        "supported": [
            "Daniel and I got married on June 3, 2016 at the Harris County Civil Courthouse.",
            "In August 2016 we signed a lease together for an apartment at Willow Creek Apartments.",
        ],
        "invented": ["We bought a house together in Austin in 2018 with money from his parents."],
        "unrelated": ["I take the bus to my English class every Tuesday evening."],
        "altered": ["We married on June 3, 2019 at the courthouse in San Antonio."],
    },
    "checking her phone": {
        "supported": [
            "In 2017 Daniel started checking my phone and would not let me see my cousin.",
            "He took my passport and my Guatemalan ID and locked them in his truck.",
            "He told me he would call immigration if I ever left him.",
        ],
        "invented": ["Daniel gambled away our savings at a casino in Louisiana."],
        "unrelated": ["My favorite food is my grandmother's tamales."],
        "altered": ["Daniel never took my passport or my Guatemalan ID."],
    },
    "kitchen wall": {
        "supported": [
            "In November 2018 Daniel pushed me against the kitchen wall and slapped me when I asked for "
            "money for groceries.",
            "On February 9, 2019 he choked me and left bruises on my neck, and I called 911.",
        ],
        "invented": ["Daniel broke my arm with a baseball bat in the summer of 2016."],
        "unrelated": ["The weather in Houston was very hot that year."],
    },
    "Officers responded": {
        "supported": [
            "The police came after my 911 call and arrested Daniel for assault.",
            "The officer saw the red marks and swelling on my neck.",
        ],
        "invented": ["Daniel's mother came to the apartment and threatened to hurt me."],
        "unrelated": ["I spent the weekend at a hotel near the airport."],
        "altered": ["The police refused to arrest Daniel that night."],
    },
    "family violence has occurred": {
        "supported": [
            "The court ordered Daniel to stay at least 500 feet away from my home and my work.",
            "The protective order was in effect from March 14, 2019 until March 14, 2021.",
        ],
        "invented": ["The judge gave Daniel custody of our dog and the car."],
        "unrelated": ["I opened a small bakery with two friends from church."],
    },
    "left the shared residence": {
        "supported": [
            "I left our apartment on February 10, 2019 and stayed at the Houston Area Women's Center shelter "
            "for six weeks.",
        ],
        "invented": ["After I left him I moved in with my cousin in New York."],
        "unrelated": ["My son plays soccer on Saturday mornings."],
    },
    "Chief complaint": {
        "supported": [
            "At the hospital they found bruising on my neck and my voice was hoarse.",
            "I went to counseling at the Houston Area Women's Center from March to December 2019 for depression.",
        ],
        "invented": ["The doctor told me I had a broken rib and needed surgery."],
        "unrelated": ["I learned to drive a truck when I was nineteen."],
    },
}
UNSUPPORTED = ("invented", "unrelated")
# The passage an item also cites that does not back it: drafts cite several passages, and the score of
# the best one must not be pulled down by the others.
DISTRACTOR = "Chief complaint"
CHUNK_CHARS = 900


def best_threshold(supported: list[float], unsupported: list[float]) -> float:
    """The cut with the best balanced accuracy; of equals, the highest."""
    values = sorted(set(supported + unsupported))
    cuts = [(a + b) / 2 for a, b in itertools.pairwise(values)]

    def balanced(cut: float) -> float:
        kept = sum(s >= cut for s in supported) / len(supported)
        flagged = sum(u < cut for u in unsupported) / len(unsupported)
        return (kept + flagged) / 2

    return max(cuts, key=lambda cut: (round(balanced(cut), 9), cut))


def separation(scores: dict[str, list[float]], threshold: float | None = None) -> dict[str, object]:
    supported = scores["supported"]
    unsupported = [s for kind in UNSUPPORTED for s in scores[kind]]
    wins = sum(1.0 if s > u else 0.5 if s == u else 0.0 for s in supported for u in unsupported)
    pooled = (statistics.pvariance(supported) + statistics.pvariance(unsupported)) / 2
    cut = best_threshold(supported, unsupported) if threshold is None else threshold
    summary: dict[str, object] = {
        kind: {"mean": round(statistics.fmean(v), 3), "min": round(min(v), 3), "max": round(max(v), 3)}
        for kind, v in scores.items()
    }
    summary |= {
        "auc": round(wins / (len(supported) * len(unsupported)), 3),
        "d_prime": round((statistics.fmean(supported) - statistics.fmean(unsupported)) / pooled**0.5, 2),
        "gap": round(min(supported) - max(unsupported), 3),  # > 0: one cut separates them all
        "threshold": round(cut, 3),
        "flagged": {kind: f"{sum(v < cut for v in values)}/{len(values)}" for kind, values in scores.items()},
    }
    return summary


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        AFFIANT_VAR_DIR=tempfile.mkdtemp(prefix="affiant-bench-bertscore-"),
        AFFIANT_LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from bert_score import BERTScorer

    from casework.demo import DEMO_DOCUMENTS
    from casework.embeddings import model_path
    from generation import scoring

    paragraphs = [p.strip() for pages in DEMO_DOCUMENTS.values() for page in pages for p in page.split("\n\n")]
    keys = {key: next(i for i, p in enumerate(paragraphs) if key in p) for key in ITEMS}
    passages = {key: paragraphs[i] for key, i in keys.items()}
    chunks = {}
    for key, i in keys.items():
        chunk, j = paragraphs[i], i
        while len(chunk) < CHUNK_CHARS:
            j = (j + 1) % len(paragraphs)
            chunk = f"{chunk}\n\n{paragraphs[j]}"
        chunks[key] = chunk
    # (kind, sentence, cited passages, the same as chunks): each item cites its own passage and, but for
    # the distractor's own items, one more that does not back it.
    rows = [
        (
            kind,
            sentence,
            [passages[key]] + ([passages[DISTRACTOR]] if key != DISTRACTOR else []),
            [chunks[key]] + ([chunks[DISTRACTOR]] if key != DISTRACTOR else []),
        )
        for key, kinds in ITEMS.items()
        for kind, sentences in kinds.items()
        for sentence in sentences
    ]
    kinds = sorted({row[0] for row in rows})
    sentences = [row[1] for row in rows]

    def by_kind(values: list[float]) -> dict[str, list[float]]:
        return {kind: [v for row, v in zip(rows, values, strict=True) if row[0] == kind] for kind in kinds}

    def run(scorer: BERTScorer, variant: str, cited: int) -> list[float]:
        if variant == "window_f1":
            refs = [[w for p in row[cited] for w in scoring.evidence_windows(p)] for row in rows]
        else:
            refs = [list(row[cited]) for row in rows]
        precision, _, f1 = scorer.score(sentences, refs)
        return [float(v) for v in (precision if variant == "passage_p" else f1)]

    results: dict[str, dict[str, object]] = {}
    for num_layers in range(1, 7):
        scorer = BERTScorer(model_type=model_path(), num_layers=num_layers, lang="en", device="cpu")
        for variant in ("passage_f1", "passage_p", "window_f1"):
            summary = separation(by_kind(run(scorer, variant, 2)))
            supported_in_chunks = by_kind(run(scorer, variant, 3))["supported"]
            mean_supported = summary["supported"]["mean"]  # type: ignore[index]
            summary["chunk_drop"] = round(mean_supported - statistics.fmean(supported_in_chunks), 3)
            results[f"{variant}@{num_layers}"] = summary
            print(f"{variant}@{num_layers}: {json.dumps(summary)}", flush=True)

    started = time.perf_counter()
    production = scoring.sentence_support([(row[1], row[2]) for row in rows])
    elapsed = time.perf_counter() - started
    print(
        json.dumps(
            {
                "items": {kind: len(v) for kind, v in by_kind([0.0] * len(rows)).items()},
                "variants": results,
                "production": {
                    "variant": f"window_f1@{scoring.NUM_LAYERS}",
                    "threshold_setting": scoring.WEAK_SUPPORT_THRESHOLD,
                    "seconds": round(elapsed, 2),
                    **separation(
                        by_kind([0.0 if v is None else v for v in production]), scoring.WEAK_SUPPORT_THRESHOLD
                    ),
                },
            }
        )
    )


if __name__ == "__main__":
    main()
