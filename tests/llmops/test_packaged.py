"""Packaged models: parts packages assembled in numeric order, verified, and refused by name when wrong.

The part packages here are folders on sys.path shaped like the real wheels (`<module>/data/partNN.bin`),
so the tests exercise the same lookup (importlib's find_spec) without installing anything.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmops.modelhost import chat_format, resolve_gguf
from llmops.packaged import PACKAGES, PackagedModel, PackagedModelError, Part, assemble, numbered_parts

PARTS = 11  # part10 and part11 sort before part2 as strings


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _content(n: int) -> bytes:
    return f"<part {n}>".encode() * n


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path for fake part packages, and a cache of its own."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    sys.path.insert(0, str(folder))
    try:
        yield folder
    finally:
        sys.path.remove(str(folder))
        importlib.invalidate_caches()


def _install_parts(site: Path, count: int = PARTS, *, skip: int | None = None) -> None:
    for n in range(1, count + 1):
        if n == skip:
            continue
        data = site / f"fakemodel_part{n}" / "data"
        data.mkdir(parents=True)
        (data / f"part{n:02d}.bin").write_bytes(_content(n))
    importlib.invalidate_caches()


def _model(count: int = PARTS) -> PackagedModel:
    files = tuple((len(_content(n)), _sha(_content(n))) for n in range(1, count + 1))
    whole = b"".join(_content(n) for n in range(1, count + 1))
    return PackagedModel(
        name="fake",
        weights="Fake-1B (GGUF)",
        file_name="fake.gguf",
        parts=numbered_parts(distribution="fakemodel-part", module="fakemodel_part", version="1.0", files=files),
        size=len(whole),
        sha256=_sha(whole),
        licence="MIT",
    )


def test_parts_are_joined_in_numeric_order_not_string_order(site: Path) -> None:
    _install_parts(site)
    path = assemble("fake", registry={"fake": _model()})
    assert path == site.parent / "cache" / "affiant" / "models" / "fake.gguf"
    assert path.read_bytes() == b"".join(_content(n) for n in range(1, PARTS + 1))
    assert path.read_bytes().index(b"<part 10>") > path.read_bytes().index(b"<part 9>")


def test_a_missing_part_package_is_named_and_nothing_is_written(site: Path) -> None:
    _install_parts(site, skip=7)
    with pytest.raises(PackagedModelError, match=r"fakemodel-part7 \(module fakemodel_part7\), which is not installed"):
        assemble("fake", registry={"fake": _model()})
    assert not (site.parent / "cache" / "affiant" / "models" / "fake.gguf").exists()


def test_a_part_with_other_bytes_is_named_and_no_file_is_left(site: Path) -> None:
    _install_parts(site)
    (site / "fakemodel_part10" / "data" / "part10.bin").write_bytes(_content(10)[:-1] + b"X")
    with pytest.raises(PackagedModelError, match="the package fakemodel-part10 does not hold the expected part"):
        assemble("fake", registry={"fake": _model()})
    folder = site.parent / "cache" / "affiant" / "models"
    assert sorted(p.name for p in folder.iterdir()) == ["fake.gguf.lock"]  # no GGUF, no temporary file


def test_a_verified_file_is_not_hashed_again_until_it_changes(site: Path) -> None:
    _install_parts(site)
    registry = {"fake": _model()}
    path = assemble("fake", registry=registry)
    marker = path.with_name("fake.gguf.verified")
    assert json.loads(marker.read_text())["size"] == path.stat().st_size
    # Later starts trust the marker: the parts are not even looked at.
    for n in range(1, PARTS + 1):
        (site / f"fakemodel_part{n}" / "data" / f"part{n:02d}.bin").unlink()
    assert assemble("fake", registry=registry) == path
    # A file changed since (size or mtime) is assembled again, which needs the parts.
    path.write_bytes(b"damaged")
    with pytest.raises(PackagedModelError, match="fakemodel-part1 should hold one file"):
        assemble("fake", registry=registry)


def test_a_package_holding_the_whole_gguf_is_used_where_it_lies(site: Path) -> None:
    module = site / "fake_whole"
    module.mkdir()
    (module / "Fake.gguf").write_bytes(b"GGUF whole")
    importlib.invalidate_caches()
    part = Part(
        distribution="fake-whole",
        version="1",
        module="fake_whole",
        size=10,
        sha256=_sha(b"GGUF whole"),
        pattern="Fake.gguf",
    )
    model = PackagedModel(
        name="whole", weights="Whole", file_name="Fake.gguf", parts=(part,), size=10, sha256=part.sha256, licence="MIT"
    )
    assert assemble("whole", registry={"whole": model}) == module / "Fake.gguf"
    (module / "Fake.gguf").write_bytes(b"GGUF other")
    with pytest.raises(PackagedModelError, match="the package fake-whole does not hold the expected part"):
        assemble("whole", registry={"whole": model})


def test_the_registry_s_parts_add_up_to_each_model_s_size_in_numeric_order() -> None:
    for model in PACKAGES.values():
        assert sum(p.size for p in model.parts) == model.size
        if len(model.parts) > 1:
            assert [int(p.module.rsplit("part", 1)[1]) for p in model.parts] == list(range(1, len(model.parts) + 1))


def test_an_unknown_name_is_an_error_listing_the_known_ones() -> None:
    with pytest.raises(PackagedModelError, match=r"qwen2\.5-coder-1\.5b-instruct"):
        assemble("nope")


def test_the_installed_qwen_models_carry_their_chat_template() -> None:
    """The real packages (installed by `make install`): Qwen's ChatML template, and none for base Gemma."""
    for name in ("qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"):
        chat = chat_format(resolve_gguf(f"packaged:{name}"))
        assert "<|im_start|>" in chat["chat_template"]
        assert chat["eos_token"] == "<|im_end|>"
        assert chat["bos_token"] == "<|endoftext|>"  # llama.cpp adds no BOS to Qwen's prompts; its template uses none
    smol = chat_format(resolve_gguf("packaged:smollm2-135m-instruct"))
    assert "<|im_start|>" in smol["chat_template"]
    assert chat_format(resolve_gguf("packaged:gemma-3-270m"))["chat_template"] == ""


@pytest.mark.django_db
def test_the_supervisor_prepares_every_model_file_at_start_and_logs_what_is_missing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from llmops.modelhost import prepare_files
    from llmops.models import Host, LLMModel

    host = Host.objects.create(name="local", kind="llamacpp")
    limits = {"context_length": 2048, "max_output_tokens": 64, "first_token_timeout_s": 5}
    LLMModel.objects.create(
        name="qwen",
        host=host,
        remote_name="qwen2.5-coder-0.5b-instruct",
        stall_timeout_s=2,
        total_timeout_s=30,
        **limits,
    )
    LLMModel.objects.create(
        name="gone",
        host=host,
        remote_name="x",
        gguf="/nonexistent/model.gguf",
        stall_timeout_s=2,
        total_timeout_s=30,
        **limits,
    )
    with caplog.at_level("ERROR", logger="llmops.modelhost"):
        prepare_files("local")
    assert [(r.getMessage(), r.__dict__["model"]) for r in caplog.records] == [("model file unavailable", "gone")]
