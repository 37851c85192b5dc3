"""ProjectLeases.hold: one owner token per hold, released however the block ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from repoconn_core.errors import ConcurrentModification, DependencyUnavailable
from repoconn_core.leases import ProjectLeases

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


class RecordingLeaseStore:
    def __init__(self, *, grant: bool = True, release_fails: bool = False) -> None:
        self.grant = grant
        self.release_fails = release_fails
        self.calls: list[tuple[str, ...]] = []

    def acquire_lease(
        self, project_id: str, owner: str, *, at: datetime, expires_at: datetime
    ) -> bool:
        self.calls.append(("acquire", project_id, owner, at.isoformat(), expires_at.isoformat()))
        return self.grant

    def release_lease(self, project_id: str, owner: str) -> None:
        self.calls.append(("release", project_id, owner))
        if self.release_fails:
            raise DependencyUnavailable("DynamoDB is unavailable.", 10)


def leases(store: RecordingLeaseStore) -> ProjectLeases:
    return ProjectLeases(
        store, duration=timedelta(seconds=60), clock=lambda: NOW, new_owner=lambda: "owner-1"
    )


def test_hold_acquires_for_the_duration_and_releases_as_the_same_owner() -> None:
    store = RecordingLeaseStore()
    with leases(store).hold("p1"):
        store.calls.append(("body",))
    assert store.calls == [
        ("acquire", "p1", "owner-1", NOW.isoformat(), (NOW + timedelta(seconds=60)).isoformat()),
        ("body",),
        ("release", "p1", "owner-1"),
    ]


def test_a_lease_held_elsewhere_is_409_concurrent_modification_and_the_block_never_runs() -> None:
    store = RecordingLeaseStore(grant=False)
    with pytest.raises(ConcurrentModification), leases(store).hold("p1"):
        store.calls.append(("body",))
    assert [call[0] for call in store.calls] == ["acquire"]


def test_the_lease_is_released_when_the_block_fails_and_its_error_propagates() -> None:
    store = RecordingLeaseStore()
    with pytest.raises(ValueError, match="boom"), leases(store).hold("p1"):
        raise ValueError("boom")
    assert store.calls[-1] == ("release", "p1", "owner-1")


def test_a_failed_release_does_not_hide_the_blocks_outcome() -> None:
    # the lease then simply expires; the caller gets the block's result
    store = RecordingLeaseStore(release_fails=True)
    with leases(store).hold("p1"):
        pass
    with pytest.raises(ValueError, match="boom"), leases(store).hold("p1"):
        raise ValueError("boom")
