"""What a consistent end state is, checked on the raw table and the simulator's hooks.

- every connection item has both secret blobs, and both decrypt (bound to their item);
- project pointers and connection pointers point at existing items that point back, and
  every item has both pointers - no pointer without an item, no item without a pointer;
- every hook at the provider belongs to a stored connection (no orphan), and every stored
  connection's hook exists and holds the secret stored for it (deliveries verify).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from repoconn_core.cipher import SecretCipher
from repoconn_core.connection_secrets import binding

from tests.integration.faults.world import World
from tests.support.deliveries import listed_secret

_SIM_PROVIDER = {"GitHub": "github", "GitLab": "gitlab", "Bitbucket": "bitbucket"}


def _s(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    return None if value is None else str(value.get("S"))


@dataclass(frozen=True)
class Snapshot:
    items: list[dict[str, Any]]
    hooks: list[dict[str, Any]]

    def connections(self) -> dict[str, dict[str, Any]]:
        return {
            str(_s(item, "repositoryUrl")): item
            for item in self.items
            if str(_s(item, "repositoryUrl")).startswith("https://")
        }

    def deliveries(self) -> list[dict[str, Any]]:
        return [i for i in self.items if str(_s(i, "repositoryUrl")).startswith("delivery#")]

    def hook_ids(self) -> set[str]:
        return {str(hook["id"]) for hook in self.hooks}


def snapshot(world: World) -> Snapshot:
    items = sorted(world.items(), key=lambda item: str(_s(item, "repositoryUrl")))
    hooks = sorted(world.hooks(), key=lambda hook: (hook["provider"], str(hook["id"])))
    return Snapshot(items, hooks)


def decrypted(cipher: SecretCipher, item: dict[str, Any], field: str) -> str:
    """A secret field of a raw item, opened with the binding its write sealed it with."""
    blob = item[field]["B"]
    generation = int(item.get("secretGeneration", {}).get("N", "0"))
    return cipher.decrypt_field(
        blob,
        project_id=str(_s(item, "projectId")),
        repository_url=str(_s(item, "repositoryUrl")),
        field=field,
        binding=binding(generation),
    ).get_secret_value()


def problems(
    world: World,
    state: Snapshot,
    *,
    orphans_allowed: frozenset[str] = frozenset(),
    missing_hook_allowed: bool = False,
) -> list[str]:
    """Every way ``state`` is inconsistent; empty when it is consistent."""
    found: list[str] = []
    by_key = {str(_s(item, "repositoryUrl")): item for item in state.items}
    connections = state.connections()

    for url, item in connections.items():
        for field in ("accessToken", "webhookSecret"):
            if "B" not in item.get(field, {}):
                found.append(f"{url}: no {field}")
                continue
            try:
                decrypted(world.cipher, item, field)
            except Exception as error:
                found.append(f"{url}: {field} does not decrypt ({type(error).__name__})")
        project, connection_id = _s(item, "projectId"), _s(item, "id")
        pointer = by_key.get(f"project#{project}")
        aims = (
            None
            if pointer is None
            else (_s(pointer, "currentRepositoryUrl"), _s(pointer, "connectionId"))
        )
        if aims != (url, connection_id):
            found.append(f"{url}: the project pointer of {project} does not point at it")
        by_id = by_key.get(f"connection#{connection_id}")
        if by_id is None or _s(by_id, "currentRepositoryUrl") != url:
            found.append(f"{url}: the connection pointer of {connection_id} does not point at it")

    for key, item in by_key.items():
        target = _s(item, "currentRepositoryUrl")
        if key.startswith("project#"):
            aimed = connections.get(str(target))
            if (
                aimed is None
                or _s(aimed, "projectId") != key.removeprefix("project#")
                or _s(aimed, "id") != _s(item, "connectionId")
            ):
                found.append(f"{key}: points at {target}, which is not its connection")
        elif key.startswith("connection#"):
            aimed = connections.get(str(target))
            if aimed is None or _s(aimed, "id") != key.removeprefix("connection#"):
                found.append(f"{key}: points at {target}, which is not this connection")

    base = world.settings.webhook_base_url
    stored_hooks = {
        (_SIM_PROVIDER[str(_s(item, "serviceType"))], _s(item, "webhookId")): item
        for item in connections.values()
        if _s(item, "webhookId")
    }
    for hook in state.hooks:
        owner = stored_hooks.get((hook["provider"], str(hook["id"])))
        owned = owner is not None and hook["url"] == f"{base}/webhooks/{_s(owner, 'id')}"
        if not owned and str(hook["id"]) not in orphans_allowed:
            found.append(f"orphan hook {hook['provider']} {hook['id']} -> {hook['url']}")
    live = {(hook["provider"], str(hook["id"])): hook for hook in state.hooks}
    for (provider, hook_id), item in stored_hooks.items():
        live_hook = live.get((provider, str(hook_id)))
        where = _s(item, "repositoryUrl")
        if live_hook is None:
            if not missing_hook_allowed:
                found.append(f"{where}: its hook {hook_id} does not exist")
            continue
        if "B" in item.get("webhookSecret", {}):
            try:
                stored: str | None = decrypted(world.cipher, item, "webhookSecret")
            except Exception:
                stored = None  # reported above
            if stored is not None and live_hook["secret"] != listed_secret(provider, stored):
                found.append(f"{where}: hook {hook_id} holds a secret that is not the stored one")
    return found
