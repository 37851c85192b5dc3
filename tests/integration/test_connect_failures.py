"""The connect use case when a step after hook creation fails: nothing is left behind."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from repoconn_core.errors import DependencyUnavailable
from repoconn_core.models import ConnectRequest
from repoconn_core.records import PendingSecret, StoredConnection
from repoconn_core.settings import Settings
from repoconn_core.storage.connection_store import ConnectionStore

from tests.support.simulator_control import SimulatorControl
from tests.support.use_cases import UseCases, admin_principal


class FailingSaveStore:
    """A real store whose transactional write fails, as a throttled DynamoDB would."""

    def __init__(self, store: ConnectionStore) -> None:
        self._store = store

    def get(self, repository_url: str) -> StoredConnection | None:
        return self._store.get(repository_url)

    def current_for_project(self, project_id: str) -> StoredConnection | None:
        return self._store.current_for_project(project_id)

    def save(self, new: StoredConnection, *, replacing: StoredConnection | None) -> None:
        raise DependencyUnavailable("DynamoDB is throttling", retry_after=2)

    def stage_secret(self, pending: PendingSecret) -> None:
        self._store.stage_secret(pending)

    def drop_pending_secret(self, pending: PendingSecret) -> None:
        self._store.drop_pending_secret(pending)


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/acme/api",
        "https://gitlab.com/acme/sub/api",
        "https://bitbucket.org/acme/api",
    ],
)
def test_a_failed_write_after_hook_creation_deletes_the_hook(
    sim_control: SimulatorControl, store, cipher, app_settings: Settings, url: str
) -> None:
    # given a store whose write fails
    connect = UseCases(app_settings, FailingSaveStore(store), cipher).connect()
    request = ConnectRequest(repositoryUrl=url, accessToken=SecretStr("tok-good"))
    # when connecting
    with pytest.raises(DependencyUnavailable):
        connect(admin_principal("p1"), "p1", request)
    # then the hook created on the way was removed and nothing was stored
    assert sim_control.hooks() == []
    assert store.current_for_project("p1") is None


def test_a_failed_encryption_after_hook_creation_deletes_the_hook(
    sim_control: SimulatorControl, store, app_settings: Settings
) -> None:
    class BrokenCipher:
        def encrypt_fields(self, **_: object) -> dict[str, bytes]:
            raise DependencyUnavailable("KMS unavailable")

        def decrypt_fields(self, *_: object, **__: object) -> dict[str, SecretStr]:
            raise AssertionError("not expected")

    connect = UseCases(app_settings, store, BrokenCipher()).connect()
    request = ConnectRequest(
        repositoryUrl="https://github.com/acme/api", accessToken=SecretStr("tok")
    )
    with pytest.raises(DependencyUnavailable):
        connect(admin_principal("p1"), "p1", request)
    assert sim_control.hooks() == []
    assert store.current_for_project("p1") is None
