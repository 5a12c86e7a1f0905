"""Loading hosts, models and routes from the YAML file named by LLMOPS_CONFIG.

Loading is idempotent: rows are matched by name and updated; each route's model list is replaced
by the file's. Hosts and models that the file no longer names are left alone (calls refer to them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.db import transaction

from llmops.calls import limits_for
from llmops.egress import SELF_RUN_KINDS, always_external, on_this_network
from llmops.models import Host, HostKind, LLMModel, Route, RouteEntry


class CatalogError(ValueError):
    """The YAML file is malformed; the message says where."""


@dataclass(frozen=True)
class CatalogSummary:
    hosts: int
    models: int
    routes: int


_MODEL_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "host": str,
    "remote_name": str,
    "context_length": int,
    "max_output_tokens": int,
    "first_token_timeout_s": (int, float),
    "stall_timeout_s": (int, float),
    "total_timeout_s": (int, float),
}


def _require(entry: dict[str, Any], key: str, types: type | tuple[type, ...], where: str) -> Any:
    if key not in entry:
        raise CatalogError(f"{where}: missing `{key}`")
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, types):
        raise CatalogError(f"{where}: `{key}` has the wrong type ({type(value).__name__})")
    return value


def parse_catalog(text: str) -> dict[str, Any]:
    """The file's hosts, models and routes, checked; each host's `external` is decided here, once."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise CatalogError(f"not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise CatalogError("the top level must be a mapping with hosts, models and routes")
    hosts = data.get("hosts") or []
    models = data.get("models") or []
    routes = data.get("routes") or {}
    if not isinstance(hosts, list) or not isinstance(models, list) or not isinstance(routes, dict):
        raise CatalogError("hosts and models must be lists, routes a mapping of name to model list")
    host_names = set()
    for i, host in enumerate(hosts):
        where = f"hosts[{i}]"
        name = _require(host, "name", str, where)
        kind = _require(host, "kind", str, where)
        if kind not in HostKind.values:
            raise CatalogError(f"{where}: kind {kind!r} is not one of {', '.join(HostKind.values)}")
        if kind in (HostKind.OLLAMA, HostKind.OPENAI) and not host.get("url"):
            raise CatalogError(f"{where}: a {kind} host needs `url`")
        host["external"] = _external(host, where=f"{where} ({name})")
        host_names.add(name)
    model_names = set()
    for i, model in enumerate(models):
        where = f"models[{i}]"
        for key, types in _MODEL_REQUIRED.items():
            _require(model, key, types, where)
        if model["host"] not in host_names:
            raise CatalogError(f"{where}: host {model['host']!r} is not defined under hosts")
        for key in ("context_length", "max_output_tokens"):
            if model[key] <= 0:
                raise CatalogError(f"{where}: `{key}` must be positive")
        if model["max_output_tokens"] >= model["context_length"]:
            raise CatalogError(f"{where}: max_output_tokens must be smaller than context_length")
        for key in ("first_token_timeout_s", "stall_timeout_s", "total_timeout_s"):
            if model[key] <= 0:
                raise CatalogError(f"{where}: `{key}` must be positive")
        _check_visibility(model, where)
        model_names.add(model["name"])
    for route, names in routes.items():
        if not isinstance(names, list) or not names:
            raise CatalogError(f"routes.{route}: must be a non-empty list of model names")
        for name in names:
            if name not in model_names:
                raise CatalogError(f"routes.{route}: model {name!r} is not defined under models")
    return {"hosts": hosts, "models": models, "routes": routes}


def _external(host: dict[str, Any], *, where: str) -> bool:
    """Whether the host is outside the firm (see llmops.egress): outside unless its address is loopback or
    private, or it is a host the firm runs whose entry says `external: false` and gives the `reason:`."""
    declared = host.get("external")
    if declared is not None and not isinstance(declared, bool):
        raise CatalogError(f"{where}: `external` must be true or false")
    kind = host["kind"]
    url = host.get("url") or (settings.LLAMACPP_CONTROL_URL if kind == HostKind.LLAMACPP else "")
    if always_external(kind, url):
        if declared is False:
            raise CatalogError(f"{where}: a hosted API (Bedrock, OpenRouter) is always external")
        return True
    if declared is True:
        return True
    if on_this_network(url):
        return False
    if declared is None:
        return True
    if kind not in SELF_RUN_KINDS:
        raise CatalogError(
            f"{where}: {url} is not a loopback or private address; only a llamacpp or ollama host the firm runs "
            "may say `external: false` there"
        )
    if not str(host.get("reason") or "").strip():
        raise CatalogError(
            f"{where}: `external: false` for {url}, which is not a loopback or private address, needs `reason:` "
            "(why this host is inside the firm)"
        )
    return False


def _check_visibility(model: dict[str, Any], where: str) -> None:
    """Redis gives an unacknowledged message to another worker after the visibility timeout: a call still
    running past it would run twice. The timeout must be at least twice the call's hard time limit."""
    _, hard = limits_for(model["total_timeout_s"])
    visibility = int(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600))
    if visibility < 2 * hard:
        raise CatalogError(
            f"{where}: its hard time limit is {hard}s, so AFFIANT_VISIBILITY_TIMEOUT_S ({visibility}s) must be "
            f"at least {2 * hard}s (twice it), or a running call would be delivered to a second worker"
        )


@transaction.atomic
def load_catalog(path: Path) -> CatalogSummary:
    try:
        text = path.read_text()
    except OSError as exc:
        raise CatalogError(f"cannot read {path}: {exc.strerror}") from exc
    data = parse_catalog(text)
    hosts: dict[str, Host] = {}
    for entry in data["hosts"]:
        hosts[entry["name"]], _ = Host.objects.update_or_create(
            name=entry["name"],
            defaults={
                "kind": entry["kind"],
                "url": entry.get("url", ""),
                "external": entry["external"],
                "queue_name": entry.get("queue", ""),
                "api_key_env": entry.get("api_key_env", ""),
                "headers": entry.get("headers") or {},
                "region": entry.get("region", ""),
                "memory_budget_mb": entry.get("memory_budget_mb"),
                "restart_command": entry.get("restart_command", ""),
                "dispatch": entry.get("dispatch", "fifo"),
                "enabled": bool(entry.get("enabled", True)),
            },
        )
    models: dict[str, LLMModel] = {}
    for entry in data["models"]:
        models[entry["name"]], _ = LLMModel.objects.update_or_create(
            name=entry["name"],
            defaults={
                "host": hosts[entry["host"]],
                "remote_name": entry["remote_name"],
                "context_length": entry["context_length"],
                "max_output_tokens": entry["max_output_tokens"],
                "first_token_timeout_s": float(entry["first_token_timeout_s"]),
                "stall_timeout_s": float(entry["stall_timeout_s"]),
                "total_timeout_s": float(entry["total_timeout_s"]),
                "keep_alive": str(entry.get("keep_alive", "")),
                "gguf": entry.get("gguf", ""),
                "expected_vram_mb": entry.get("expected_vram_mb"),
                "enabled": bool(entry.get("enabled", True)),
            },
        )
    for name, model_names in data["routes"].items():
        route, _ = Route.objects.get_or_create(name=name)
        RouteEntry.objects.filter(route=route).delete()
        RouteEntry.objects.bulk_create(
            RouteEntry(route=route, model=models[m], position=i) for i, m in enumerate(model_names)
        )
    return CatalogSummary(hosts=len(hosts), models=len(models), routes=len(data["routes"]))
