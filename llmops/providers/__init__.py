"""Provider registry: one module per host kind, imported only when a call needs it."""

from __future__ import annotations

from importlib import import_module

from llmops.providers.base import Provider, ProviderError

_PROVIDERS: dict[str, tuple[str, str]] = {
    "llamacpp": ("llmops.providers.llamacpp", "LlamaCppProvider"),
    "openai": ("llmops.providers.openai", "OpenAIProvider"),
    "ollama": ("llmops.providers.ollama", "OllamaProvider"),
    "bedrock": ("llmops.providers.bedrock", "BedrockProvider"),
}
_overrides: dict[str, Provider] = {}
# One instance per kind and process: providers keep what they learn (a resident model's port) between calls.
_instances: dict[str, Provider] = {}


def get_provider(kind: str) -> Provider:
    if kind in _overrides:
        return _overrides[kind]
    if kind in _instances:
        return _instances[kind]
    try:
        module_name, class_name = _PROVIDERS[kind]
    except KeyError:
        raise ProviderError(f"no provider is available for host kind {kind!r}") from None
    provider: Provider = getattr(import_module(module_name), class_name)()
    _instances[kind] = provider
    return provider


def override_provider(kind: str, provider: Provider | None) -> None:
    """Unit tests put the scripted fake provider in place of a real one; None removes it."""
    if provider is None:
        _overrides.pop(kind, None)
    else:
        _overrides[kind] = provider
