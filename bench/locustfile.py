"""The load of section 6: closed-loop users asking whether a project is connected, as every
project page of the frontend does. Target and token come from the environment (BENCH_PATH,
BENCH_TOKEN), the host from locust's --host. Every response time (ms, float: locust's own CSV
rounds to whole milliseconds) is written as JSON to BENCH_SAMPLES when locust quits."""

from __future__ import annotations

import json
import os
from typing import Any

from locust import FastHttpUser, constant, events, task

_samples: list[float] = []


@events.request.add_listener
def _record(response_time: float, exception: BaseException | None, **_: Any) -> None:
    if exception is None:
        _samples.append(response_time)


@events.quitting.add_listener
def _write(**_: Any) -> None:
    path = os.environ.get("BENCH_SAMPLES")
    if path:
        with open(path, "w") as out:
            json.dump(_samples, out)


class FrontendUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def exists(self) -> None:
        token = os.environ.get("BENCH_TOKEN", "")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with self.client.get(
            os.environ["BENCH_PATH"], headers=headers, name="GET exists", catch_response=True
        ) as response:
            if response.status_code != 200 or b'"exists"' not in (response.content or b""):
                response.failure(f"status {response.status_code}")
