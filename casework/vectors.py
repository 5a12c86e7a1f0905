"""One FAISS index per case over its chunks' embeddings, persisted beside the case's files.

The database is the truth: every chunk keeps its embedding, and the index file is rebuilt from them
whenever it is missing or disagrees with the database (after a failure, or a document added or
removed). Rebuilding writes a new file and renames it over the old one, so a reader never sees half.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
from django.conf import settings

from casework.embeddings import DIMENSIONS, embed, from_bytes
from casework.models import Case, Chunk

logger = logging.getLogger(__name__)

_cache_lock = threading.Lock()
# Per process: case id -> (file mtime, index). A rebuilt file has a new mtime and is read again.
_cache: dict[int, tuple[float, faiss.Index]] = {}


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    score: float


def index_path(case_id: int) -> Path:
    return Path(settings.AFFIANT_STORAGE_DIR) / "indexes" / f"case-{case_id}.faiss"


def rebuild_index(case_id: int) -> int:
    """Write the case's index from the embeddings in the database; returns how many chunks it holds."""
    rows = list(
        Chunk.objects.filter(case_id=case_id, embedding__isnull=False).order_by("id").values_list("id", "embedding")
    )
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(DIMENSIONS))
    if rows:
        vectors = np.vstack([from_bytes(bytes(blob or b"")) for _, blob in rows]).astype(np.float32)
        index.add_with_ids(vectors, np.asarray([pk for pk, _ in rows], dtype=np.int64))
    path = index_path(case_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".case-{case_id}-", suffix=".faiss")
    os.close(fd)
    try:
        faiss.write_index(index, tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    logger.info("case index rebuilt", extra={"case_id": case_id, "chunks": len(rows)})
    return len(rows)


def _load(case_id: int) -> faiss.Index | None:
    path = index_path(case_id)
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    with _cache_lock:
        cached = _cache.get(case_id)
        if cached is not None and cached[0] == mtime:
            return cached[1]
    index = faiss.read_index(str(path))
    with _cache_lock:
        _cache[case_id] = (mtime, index)
    return index


def consistent_index(case_id: int) -> faiss.Index:
    """The case's index, rebuilt first if it is missing or holds other chunks than the database."""
    expected = Chunk.objects.filter(case_id=case_id, embedding__isnull=False).count()
    index = _load(case_id)
    if index is None or index.ntotal != expected:
        rebuild_index(case_id)
        index = _load(case_id)
    assert index is not None
    return index


def search_vectors(case: Case, query: str, k: int) -> list[Hit]:
    index = consistent_index(case.pk)
    if index.ntotal == 0:
        return []
    scores, ids = index.search(embed([query]), min(k, index.ntotal))
    return [Hit(chunk_id=int(i), score=float(s)) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0]
