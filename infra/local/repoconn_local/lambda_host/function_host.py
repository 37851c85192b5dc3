"""Lambda execution environments, emulated in-process: one warm environment per function.

What the Lambda service guarantees and the handlers rely on, kept here:

- the handler module is imported on the first invocation (the cold start), after the process
  environment is set, because module-level objects (Powertools' Logger and Metrics) read it;
- an environment runs one invocation at a time. Handlers keep per-request state in module
  globals (``app.current_event`` of the Powertools resolver), so two concurrent requests to one
  function must not share it: they queue for the function's environment instead;
- an invocation that outlives the function's Timeout fails. A thread cannot be killed, so the
  caller gets the timeout while the handler runs on in the background; the environment stays
  busy until it returns (Lambda would have discarded it) — documented, rare locally.

Function code is imported as ``<CodeUri as a package>.<handler module>`` (``functions/x`` +
``app.lambda_handler`` → ``functions.x.app``) from the template's directory, without touching
``sys.path``: the top-level package is registered from its file when it is not importable yet.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from repoconn_local.lambda_host.context import LocalLambdaContext
from repoconn_local.lambda_host.functions import FunctionSpec

Handler = Callable[[dict[str, Any], Any], Any]


class Outcome(Enum):
    OK = "ok"
    # The handler (or its import) raised: Lambda reports an Unhandled function error.
    FAILED = "failed"
    # The function ran past its own Timeout: Lambda reports "Task timed out".
    FUNCTION_TIMEOUT = "function_timeout"
    # API Gateway stopped waiting (integration timeout, at most 30 s).
    INTEGRATION_TIMEOUT = "integration_timeout"


@dataclass(frozen=True)
class Invocation:
    outcome: Outcome
    payload: Any = None
    error: BaseException | None = None
    duration_ms: float = 0.0


class FunctionHost:
    """The warm execution environment of one function."""

    def __init__(self, spec: FunctionSpec, code_root: Path, region: str = "us-east-1") -> None:
        self.spec = spec
        self._code_root = code_root
        self._region = region
        self._environment = threading.Lock()
        self._handler: Handler | None = None

    def invoke(self, event: dict[str, Any], integration_timeout: float) -> Invocation:
        started = threading.Event()
        finished = threading.Event()
        result: dict[str, Any] = {}

        def run() -> None:
            with self._environment:
                started.set()
                began = time.monotonic()
                try:
                    context = LocalLambdaContext(
                        function_name=self.spec.logical_id,
                        memory_limit_in_mb=self.spec.memory_mb,
                        timeout_seconds=self.spec.timeout_seconds,
                        region=self._region,
                    )
                    result["payload"] = self._load()(event, context)
                except Exception as error:  # the runtime reports any handler error
                    result["error"] = error
                finally:
                    result["duration_ms"] = (time.monotonic() - began) * 1000
                    finished.set()

        waited_from = time.monotonic()
        threading.Thread(target=run, name=f"lambda:{self.spec.logical_id}", daemon=True).start()
        if not started.wait(integration_timeout):
            return Invocation(Outcome.INTEGRATION_TIMEOUT)
        remaining = integration_timeout - (time.monotonic() - waited_from)
        if not finished.wait(min(self.spec.timeout_seconds, max(remaining, 0.0))):
            if self.spec.timeout_seconds <= remaining:
                return Invocation(Outcome.FUNCTION_TIMEOUT)
            return Invocation(Outcome.INTEGRATION_TIMEOUT)
        if "error" in result:
            return Invocation(
                Outcome.FAILED, error=result["error"], duration_ms=result["duration_ms"]
            )
        return Invocation(
            Outcome.OK, payload=result.get("payload"), duration_ms=result["duration_ms"]
        )

    def _load(self) -> Handler:
        """Import the handler once (cold start); called only while holding the environment."""
        if self._handler is None:
            module = import_function_module(self.spec.module, self._code_root)
            handler = getattr(module, self.spec.handler, None)
            if not callable(handler):
                raise AttributeError(f"{self.spec.module} has no handler {self.spec.handler}")
            self._handler = handler
        return self._handler


_import_lock = threading.Lock()


def import_function_module(module: str, code_root: Path) -> Any:
    """Import ``module`` whose top-level package lives in ``code_root``."""
    package = module.split(".", 1)[0]
    with _import_lock:
        if package not in sys.modules and importlib.util.find_spec(package) is None:
            _register_package(package, code_root / package)
        loaded = importlib.import_module(module)
    origin = Path(getattr(loaded, "__file__", "") or "").resolve()
    if code_root.resolve() not in origin.parents:
        raise ImportError(f"{module} was imported from {origin}, not from {code_root}")
    return loaded


def _register_package(package: str, directory: Path) -> None:
    init = directory / "__init__.py"
    spec = importlib.util.spec_from_file_location(
        package, init, submodule_search_locations=[str(directory)]
    )
    if spec is None or spec.loader is None or not init.is_file():
        raise ImportError(f"{directory} is not a Python package (no __init__.py)")
    package_module = importlib.util.module_from_spec(spec)
    sys.modules[package] = package_module
    spec.loader.exec_module(package_module)
