from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from llmops.catalog import CatalogError, load_catalog, parse_catalog
from llmops.models import Host, LLMModel, Route

pytestmark = pytest.mark.django_db

MINIMAL = """
hosts:
  - {name: local, kind: llamacpp, external: false}
models:
  - {name: local-drafter, host: local, remote_name: gemma-3-270m, context_length: 8192,
     max_output_tokens: 512, first_token_timeout_s: 60, stall_timeout_s: 10, total_timeout_s: 300}
routes:
  draft: [local-drafter]
"""


def test_the_tests_catalog_loads_and_loading_twice_changes_nothing() -> None:
    assert Path(settings.LLMOPS_CONFIG) == settings.BASE_DIR / "tests" / "models.yaml"  # tests/services.py
    first = load_catalog(Path(settings.LLMOPS_CONFIG))
    counts = (Host.objects.count(), LLMModel.objects.count(), Route.objects.count())
    second = load_catalog(Path(settings.LLMOPS_CONFIG))
    assert first == second
    assert (Host.objects.count(), LLMModel.objects.count(), Route.objects.count()) == counts
    draft = Route.objects.get(name="draft")
    assert draft.ordered_models()[0].name == "qwen-coder-0-5b"
    assert Host.objects.get(name="local").queue == "gpu.local"


@pytest.mark.parametrize("path", ["llmops/models.yaml", "tests/models.yaml"])
def test_every_route_fails_over_to_other_weights_and_judges_use_two_models(path: str) -> None:
    data = parse_catalog((settings.BASE_DIR / path).read_text())  # also checks the visibility timeout
    weights = {m["name"]: m.get("gguf") or m["remote_name"] for m in data["models"]}
    for route, names in data["routes"].items():
        assert len({weights[n] for n in names}) == len(names) >= 2, route
    judges = {data["routes"][slot][0] for slot in settings.AFFIANT_JUDGE_ROUTES}
    assert len({weights[n] for n in judges}) >= (2 if path.startswith("llmops") else 1)


def test_the_default_catalog_drafts_with_the_packaged_1_5b_instruct_model() -> None:
    from llmops.modelhost import PACKAGED_MODELS

    data = parse_catalog((settings.BASE_DIR / "llmops/models.yaml").read_text())
    remote = {m["name"]: m["remote_name"] for m in data["models"]}
    for stage in ("extract", "draft", "guardrails"):
        assert remote[data["routes"][stage][0]] == "qwen2.5-coder-1.5b-instruct"
    assert all(PACKAGED_MODELS[r].startswith("packaged:") for r in remote.values())


def test_the_issue_schema_loads_as_written(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(MINIMAL)
    summary = load_catalog(path)
    assert (summary.hosts, summary.models, summary.routes) == (1, 1, 1)
    model = LLMModel.objects.get(name="local-drafter")
    assert (model.context_length, model.stall_timeout_s, model.host.kind) == (8192, 10.0, "llamacpp")


def test_editing_the_file_updates_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(MINIMAL)
    load_catalog(path)
    path.write_text(MINIMAL.replace("stall_timeout_s: 10", "stall_timeout_s: 4"))
    load_catalog(path)
    assert LLMModel.objects.get(name="local-drafter").stall_timeout_s == 4.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("kind: llamacpp", "kind: tgi"), "kind 'tgi' is not one of"),
        (("host: local,", "host: elsewhere,"), "host 'elsewhere' is not defined"),
        (("draft: [local-drafter]", "draft: [missing]"), "model 'missing' is not defined"),
        (("context_length: 8192", "context_length: 256"), "max_output_tokens must be smaller"),
        (("stall_timeout_s: 10", "stall_timeout_s: ten"), "`stall_timeout_s` has the wrong type"),
        (("remote_name: gemma-3-270m, ", ""), "missing `remote_name`"),
        (
            ("total_timeout_s: 300", "total_timeout_s: 3000"),
            r"AFFIANT_VISIBILITY_TIMEOUT_S \(3600s\) must be at least 6090s",
        ),
    ],
)
def test_a_malformed_catalog_is_refused_with_where_and_why(change: tuple[str, str], message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        parse_catalog(MINIMAL.replace(*change))
    assert not Host.objects.exists()


def _host_catalog(host: str) -> str:
    return MINIMAL.replace("{name: local, kind: llamacpp, external: false}", host)


@pytest.mark.parametrize(
    ("host", "external"),
    [
        ('{name: local, kind: openai, url: "https://openrouter.ai/api"}', True),
        ("{name: local, kind: bedrock, region: us-east-1}", True),
        ('{name: local, kind: ollama, url: "http://gpu1:11434"}', True),
        ('{name: local, kind: openai, url: "https://api.example.com/v1"}', True),
        ('{name: local, kind: ollama, url: "http://localhost:11434"}', False),
        ('{name: local, kind: openai, url: "http://127.0.0.1:8080"}', False),
        ('{name: local, kind: openai, url: "http://10.0.3.7:8000/v1"}', False),
        ('{name: local, kind: ollama, url: "http://[::1]:11434"}', False),
        ("{name: local, kind: llamacpp}", False),  # its supervisor is on loopback
        ('{name: local, kind: ollama, url: "http://192.168.1.20:11434", external: true}', True),
        ('{name: local, kind: ollama, url: "http://gpu1:11434", external: false, reason: "our rack"}', False),
    ],
)
def test_a_host_is_external_unless_its_address_or_a_reason_shows_it_is_inside(host: str, external: bool) -> None:
    (entry,) = parse_catalog(_host_catalog(host))["hosts"]
    assert entry["external"] is external


def test_a_host_without_external_loads_as_external(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(_host_catalog('{name: local, kind: openai, url: "https://openrouter.ai/api"}'))
    load_catalog(path)
    assert Host.objects.get(name="local").external


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ('{name: gpu1, kind: ollama, url: "http://gpu1:11434", external: false}', r"\(gpu1\).*needs `reason:`"),
        (
            '{name: vllm, kind: openai, url: "https://llm.example.com", external: false, reason: "ours"}',
            r"\(vllm\).*only a llamacpp or ollama host",
        ),
        (
            '{name: openrouter, kind: openai, url: "https://openrouter.ai/api", external: false, reason: "x"}',
            r"\(openrouter\).*always external",
        ),
        ("{name: aws, kind: bedrock, external: false}", r"\(aws\).*always external"),
        ('{name: local, kind: ollama, url: "http://gpu1:11434", external: "no"}', "must be true or false"),
    ],
)
def test_a_host_declared_inside_without_grounds_is_refused_by_name(host: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        parse_catalog(_host_catalog(host))  # refused at the host, before its model is read
