"""One change at a time per project: a short lease on the project's connection.

Why the table's conditions are not enough: connect and disconnect change two systems, the
provider's hook and the table, and only the table's write is conditional. Two requests for
one project can each pass their DynamoDB conditions and still leave the two systems
disagreeing - a reconnect that rotated the hook's secret and then lost its write (or won it,
while another reconnect rotated the secret again), a disconnect that deleted the hook a
reconnect had just updated. The hook then signs with a secret no item stores, or no item
names the hook, and deliveries fail until someone repairs it. The race suite found both
(tests/integration/test_races.py). Holding the project's lease from the first read to the last
provider call serialises those requests; a second one meanwhile is refused at once with 409
``concurrent_modification``, before it touches the provider.

The lease is an item in the connections table (storage/lease_table.py: ``acquire_lease`` is a
PutItem on ``lease#<projectId>`` conditioned on "absent or expired", ``release_lease`` a
DeleteItem conditioned on the owner token). It expires after ``LEASE_DURATION``, which is
longer than the write functions' timeout (29 s in template.yaml): a holder still running
always holds a valid lease, and one that was killed blocks its project for at most that long.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from repoconn_core.clock import utc_now
from repoconn_core.errors import ConcurrentModification
from repoconn_core.ports import LeaseStore, ProjectLock

LEASE_DURATION = timedelta(seconds=60)

log = Logger(child=True)


class ProjectLeases:
    def __init__(
        self,
        store: LeaseStore,
        *,
        duration: timedelta = LEASE_DURATION,
        clock: Callable[[], datetime] = utc_now,
        new_owner: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._store = store
        self._duration = duration
        self._clock = clock
        self._new_owner = new_owner

    @contextmanager
    def hold(self, project_id: str) -> Iterator[None]:
        """Hold the project's lease for the block; ConcurrentModification if another request
        holds it. Released when the block ends, however it ends."""
        owner = self._new_owner()
        now = self._clock()
        if not self._store.acquire_lease(
            project_id, owner, at=now, expires_at=now + self._duration
        ):
            raise ConcurrentModification(
                "Another change to the project's repository connection is in progress."
            )
        try:
            yield
        finally:
            try:
                self._store.release_lease(project_id, owner)
            except Exception:
                # The block's own outcome is what the caller needs; the lease expires anyway.
                log.warning(
                    "could not release the project's lease; it expires by itself",
                    extra={"projectId": project_id},
                )


def hold(leases: ProjectLock | None, project_id: str) -> AbstractContextManager[None]:
    """The project's lease for a block, or nothing when the use case runs without leases."""
    return nullcontext() if leases is None else leases.hold(project_id)
