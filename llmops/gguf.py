"""Reading a GGUF file's metadata (the header's key-value pairs) and estimating a model's memory.

Only the header is read: scalar values are kept, arrays (the tokenizer's vocabulary) are skipped.
The estimate is the weights plus the KV cache for the context it will run with, which is what a
model costs a GPU (or RAM) beyond the runtime's fixed overhead.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import IO, Any

_MAGIC = b"GGUF"
# GGUF value types: struct formats of the fixed-size ones.
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
# The KV cache is f16 unless a server is told otherwise.
_KV_BYTES_PER_ELEMENT = 2
# Compute buffers and the runtime's own allocations, as a share of the weights, on top of them.
_OVERHEAD_FRACTION = 0.10


class GGUFError(ValueError):
    pass


def _read(handle: IO[bytes], fmt: str) -> Any:
    size = struct.calcsize(fmt)
    data = handle.read(size)
    if len(data) != size:
        raise GGUFError("the file ends inside its header")
    return struct.unpack(fmt, data)[0]


def _string(handle: IO[bytes]) -> str:
    length = _read(handle, "<Q")
    return handle.read(length).decode("utf-8", errors="replace")


def _value(handle: IO[bytes], kind: int) -> Any:
    if kind in _SCALARS:
        return _read(handle, _SCALARS[kind])
    if kind == _STRING:
        return _string(handle)
    if kind == _ARRAY:
        item_kind = _read(handle, "<I")
        count = _read(handle, "<Q")
        if item_kind in _SCALARS:
            handle.seek(struct.calcsize(_SCALARS[item_kind]) * count, 1)
        else:
            for _ in range(count):
                _value(handle, item_kind)
        return None  # arrays are skipped: nothing here needs them
    raise GGUFError(f"unknown GGUF value type {kind}")


def _header(handle: IO[bytes], path: Path) -> int:
    """Check the magic and version; returns the number of key-value pairs that follow."""
    if handle.read(4) != _MAGIC:
        raise GGUFError(f"{path.name} is not a GGUF file")
    version = _read(handle, "<I")
    if version < 2:
        raise GGUFError(f"GGUF version {version} is too old")
    _read(handle, "<Q")  # tensor count
    pairs: int = _read(handle, "<Q")
    return pairs


def read_metadata(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        metadata: dict[str, Any] = {}
        for _ in range(_header(handle, path)):
            key = _string(handle)
            value = _value(handle, _read(handle, "<I"))
            if value is not None:
                metadata[key] = value
        return metadata


def token_texts(path: Path, ids: set[int]) -> dict[int, str]:
    """The vocabulary's text (`tokenizer.ggml.tokens`) of the tokens with these ids, e.g. BOS and EOS."""
    found: dict[int, str] = {}
    with path.open("rb") as handle:
        for _ in range(_header(handle, path)):
            key = _string(handle)
            kind = _read(handle, "<I")
            if key != "tokenizer.ggml.tokens" or kind != _ARRAY:
                _value(handle, kind)
                continue
            item_kind = _read(handle, "<I")
            count = _read(handle, "<Q")
            if item_kind != _STRING:
                raise GGUFError("tokenizer.ggml.tokens is not a list of strings")
            for index in range(count):
                if index in ids:
                    found[index] = _string(handle)
                    if len(found) == len(ids):
                        return found
                else:
                    handle.seek(_read(handle, "<Q"), 1)
            return found
    return found


def kv_cache_bytes(metadata: dict[str, Any], n_ctx: int) -> int:
    """Keys and values of every layer for n_ctx tokens, from the architecture's own metadata keys."""
    arch = metadata.get("general.architecture", "")
    layers = int(metadata.get(f"{arch}.block_count", 0))
    heads = int(metadata.get(f"{arch}.attention.head_count", 1) or 1)
    kv_heads = int(metadata.get(f"{arch}.attention.head_count_kv", heads) or heads)
    embedding = int(metadata.get(f"{arch}.embedding_length", 0))
    head_dim = embedding // heads if heads else 0
    key_length = int(metadata.get(f"{arch}.attention.key_length", head_dim))
    value_length = int(metadata.get(f"{arch}.attention.value_length", head_dim))
    return layers * n_ctx * kv_heads * (key_length + value_length) * _KV_BYTES_PER_ELEMENT


def estimate_bytes(*, weights_bytes: int, metadata: dict[str, Any], n_ctx: int) -> int:
    return int(weights_bytes * (1 + _OVERHEAD_FRACTION)) + kv_cache_bytes(metadata, n_ctx)
