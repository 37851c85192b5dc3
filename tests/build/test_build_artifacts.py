"""What `make build` put in .aws-sam/build is what Lambda (python3.13, arm64) can run.

Run by `make test-build` after `make build`; the default test run ignores this folder (it
needs a build). The build host is x86-64, so every native extension must still be an AArch64
ELF built for CPython 3.13 (or the stable ABI), from a wheel whose tags say so; every module
ships with its CPython 3.13 bytecode (scripts/compile_bytecode.sh), so a cold start compiles
nothing. Functions and layers are found through the built template, as SAM deploys them.
"""

from __future__ import annotations

import importlib.util
import re
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from repoconn_local.aws import template_schema

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / ".aws-sam" / "build"
ELF_MAGIC = b"\x7fELF"
ELF_CLASS_64 = 2
ELF_LITTLE_ENDIAN = 1
EM_AARCH64 = 183
# Lambda's python3.13 runtime is Amazon Linux 2023: glibc 2.34.
RUNTIME_GLIBC = (2, 34)
# Lambda's limit for a function and all its layers, unzipped.
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024
READ_FUNCTIONS = ("GetConnectionFunction", "ConnectionExistsFunction", "ListDeliveriesFunction")
# Provided by the Lambda runtime; a bundled copy would shadow it and grow every layer.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")
NEVER_BUNDLED = (
    "aws_xray_sdk",
    "pytest",
    "_pytest",
    "moto",
    "repoconn_local",
    "repoconn_openapi",
    "tests",
)
LAYER_PACKAGES = {"CoreLayer": "repoconn_core", "ProvidersLayer": "repoconn_providers"}
# CPython 3.13's bytecode: its cache tag and magic number (Lib/importlib/_bootstrap_external.py,
# 3571 for 3.13.0), and the pyc flags of an unchecked hash-based .pyc (PEP 552: bit 0 set,
# check_source bit 1 clear).
CPYTHON_313_TAG = "cpython-313"
CPYTHON_313_MAGIC = (3571).to_bytes(2, "little") + b"\r\n"
UNCHECKED_HASH = 0b01


@pytest.fixture(scope="module")
def built_template() -> dict[str, Any]:
    path = BUILD / "template.yaml"
    if not path.is_file():
        pytest.fail(f"{path} does not exist: run `make build` first")
    return template_schema.load_template(path)


@pytest.fixture(scope="module")
def source_template() -> dict[str, Any]:
    return template_schema.load_template()


def _resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") == resource_type
    }


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return _resources(template, "AWS::Serverless::Function")


def _layers(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return _resources(template, "AWS::Serverless::LayerVersion")


def _layer_dir(template: dict[str, Any], logical_id: str) -> Path:
    return BUILD / template["Resources"][logical_id]["Properties"]["ContentUri"] / "python"


def _function_roots(template: dict[str, Any], logical_id: str) -> list[Path]:
    """The folders Lambda puts on sys.path for this function: its code, then its layers."""
    properties = template["Resources"][logical_id]["Properties"]
    layers = [_layer_dir(template, layer["Ref"]) for layer in properties.get("Layers", [])]
    return [BUILD / properties["CodeUri"], *layers]


def _all_paths() -> Iterator[Path]:
    return (path for path in BUILD.rglob("*") if path.name != "template.yaml")


def _top_level_names(roots: list[Path]) -> set[str]:
    """Importable top-level names (package folders and modules) in these sys.path roots."""
    names: set[str] = set()
    for root in roots:
        for entry in root.iterdir():
            if entry.name.endswith((".dist-info", ".egg-info")):
                continue
            names.add(entry.name.split(".", 1)[0])
    return names


def _elf_machine(path: Path) -> tuple[bytes, int, int, int]:
    """(magic, class, data encoding, e_machine) from an ELF header."""
    with path.open("rb") as handle:
        header = handle.read(20)
    magic, elf_class, encoding = header[:4], header[4], header[5]
    (machine,) = struct.unpack_from("<H" if encoding == ELF_LITTLE_ENDIAN else ">H", header, 18)
    return magic, elf_class, encoding, machine


def _wheel_tags(layer_dir: Path, distribution: str) -> list[str]:
    (wheel,) = layer_dir.glob(f"{distribution}-*.dist-info/WHEEL")
    return [
        line.removeprefix("Tag: ").strip()
        for line in wheel.read_text(encoding="utf-8").splitlines()
        if line.startswith("Tag: ")
    ]


def _platform_fits_the_runtime(platform: str) -> bool:
    if platform == "manylinux2014_aarch64":
        return True  # = manylinux_2_17
    match = re.fullmatch(r"manylinux_(\d+)_(\d+)_aarch64", platform)
    return match is not None and (int(match[1]), int(match[2])) <= RUNTIME_GLIBC


# -------------------------------------------------------------------------------- shape


def test_every_function_is_python_313_on_arm64(built_template: dict[str, Any]) -> None:
    # given
    runtime = built_template["Globals"]["Function"]

    # when
    overrides = {
        logical_id: (
            resource["Properties"].get("Runtime"),
            resource["Properties"].get("Architectures"),
        )
        for logical_id, resource in _functions(built_template).items()
    }

    # then
    assert (runtime["Runtime"], runtime["Architectures"]) == ("python3.13", ["arm64"])
    assert set(overrides.values()) == {(None, None)}


def test_every_layer_is_built_for_python_313_on_arm64(built_template: dict[str, Any]) -> None:
    # when
    targets = {
        logical_id: (
            resource["Properties"]["CompatibleRuntimes"],
            resource["Properties"]["CompatibleArchitectures"],
            resource["Metadata"]["BuildArchitecture"],
        )
        for logical_id, resource in _layers(built_template).items()
    }

    # then
    assert targets == {
        "CoreLayer": (["python3.13"], ["arm64"], "arm64"),
        "ProvidersLayer": (["python3.13"], ["arm64"], "arm64"),
    }


def test_every_function_artifact_is_its_handler_and_nothing_else(
    built_template: dict[str, Any], source_template: dict[str, Any]
) -> None:
    # given
    source_code = {
        logical_id: (ROOT / resource["Properties"]["CodeUri"] / "app.py").read_bytes()
        for logical_id, resource in _functions(source_template).items()
    }

    # when
    built = {
        logical_id: sorted(p.name for p in (BUILD / resource["Properties"]["CodeUri"]).iterdir())
        for logical_id, resource in _functions(built_template).items()
    }
    built_code = {
        logical_id: (BUILD / resource["Properties"]["CodeUri"] / "app.py").read_bytes()
        for logical_id, resource in _functions(built_template).items()
    }

    bytecode = {
        logical_id: sorted(
            p.name for p in (BUILD / resource["Properties"]["CodeUri"] / "__pycache__").iterdir()
        )
        for logical_id, resource in _functions(built_template).items()
    }

    # then
    assert built == {logical_id: ["__pycache__", "app.py"] for logical_id in source_code}
    assert bytecode == {logical_id: [f"app.{CPYTHON_313_TAG}.pyc"] for logical_id in source_code}
    assert built_code == source_code


@pytest.mark.parametrize(("layer", "package"), sorted(LAYER_PACKAGES.items()))
def test_every_layer_carries_its_package_under_python(
    built_template: dict[str, Any], layer: str, package: str
) -> None:
    # given
    source = ROOT / "layers" / ("core" if layer == "CoreLayer" else "providers") / package
    expected = sorted(
        str(path.relative_to(source)) for path in source.rglob("*.py") if path.is_file()
    )

    # when
    built = _layer_dir(built_template, layer) / package
    found = sorted(
        str(path.relative_to(built))
        for path in built.rglob("*")
        if path.is_file() and path.parent.name != "__pycache__"
    )

    # then (its sources, and beside each its bytecode: the tests below)
    assert "__init__.py" in found
    assert found == expected


def test_each_function_with_its_layers_fits_lambdas_unzipped_limit(
    built_template: dict[str, Any],
) -> None:
    # when
    sizes = {
        logical_id: sum(
            path.stat().st_size
            for root in _function_roots(built_template, logical_id)
            for path in root.rglob("*")
            if path.is_file()
        )
        for logical_id in _functions(built_template)
    }

    # then
    assert {name: size for name, size in sizes.items() if size >= MAX_UNZIPPED_BYTES} == {}


# -------------------------------------------------------------------------------- native code


def test_every_native_extension_is_an_aarch64_elf_for_cpython_313() -> None:
    # given
    extensions = sorted(path for path in _all_paths() if path.suffix == ".so")

    # when
    headers = {path.name: _elf_machine(path) for path in extensions}
    tags = {path.name: path.name.split(".")[-2] for path in extensions}

    # then
    assert {"_pydantic_core.cpython-313-aarch64-linux-gnu.so", "_rust.abi3.so"} <= set(headers)
    assert set(headers.values()) == {(ELF_MAGIC, ELF_CLASS_64, ELF_LITTLE_ENDIAN, EM_AARCH64)}
    assert set(tags.values()) <= {"cpython-313-aarch64-linux-gnu", "abi3"}


def test_pydantic_core_comes_from_a_cp313_aarch64_wheel(built_template: dict[str, Any]) -> None:
    # when
    tags = _wheel_tags(_layer_dir(built_template, "CoreLayer"), "pydantic_core")

    # then
    assert tags
    for tag in tags:
        python, abi, platform = tag.split("-")
        assert (python, abi) == ("cp313", "cp313")
        assert _platform_fits_the_runtime(platform), platform


def test_cryptography_comes_from_an_abi3_aarch64_wheel_python_313_can_load(
    built_template: dict[str, Any],
) -> None:
    # when
    tags = _wheel_tags(_layer_dir(built_template, "ProvidersLayer"), "cryptography")

    # then
    assert tags
    for tag in tags:
        python, abi, platform = tag.split("-")
        # cp3X-abi3 runs on every CPython >= 3.X.
        assert abi == "abi3"
        assert re.fullmatch(r"cp3(\d+)", python) and int(python[3:]) <= 13, python
        assert _platform_fits_the_runtime(platform), platform


# -------------------------------------------------------------------------------- contents


def test_no_runtime_provided_sdk_is_bundled(built_template: dict[str, Any]) -> None:
    # given
    roots = [_layer_dir(built_template, layer) for layer in _layers(built_template)]
    roots += [BUILD / f["Properties"]["CodeUri"] for f in _functions(built_template).values()]

    # when
    bundled = _top_level_names(roots) & set(RUNTIME_PROVIDED)

    # then
    assert bundled == set()


def test_no_xray_sdk_test_code_or_local_tooling_anywhere() -> None:
    # when
    found = sorted(
        str(path.relative_to(BUILD))
        for path in _all_paths()
        if path.name.split(".", 1)[0].replace("-", "_") in NEVER_BUNDLED
        or path.name in ("test", "conftest.py")
        or path.name.startswith(("aws_xray_sdk", "pytest"))
    )

    # then
    assert found == []


def _shipped_modules() -> list[Path]:
    """Every .py a function or layer ships (what Lambda may import)."""
    return sorted(path for path in _all_paths() if path.suffix == ".py")


def test_every_shipped_module_has_its_cpython_313_unchecked_hash_bytecode() -> None:
    assert sys.version_info[:2] == (3, 13), "source hashes are computed by 3.13 only"
    # given every module a function or layer ships
    modules = _shipped_modules()
    assert len(modules) > 500, "fewer modules than the layers hold: is the build complete?"
    missing, wrong_flags, stale = [], [], []
    for module in modules:
        # when its bytecode is looked up where CPython 3.13 looks for it
        pyc = module.parent / "__pycache__" / f"{module.stem}.{CPYTHON_313_TAG}.pyc"
        if not pyc.is_file():
            missing.append(str(module.relative_to(BUILD)))
            continue
        header = pyc.read_bytes()[:16]
        magic, flags, source_hash = header[:4], header[4:8], header[8:16]
        # then it is 3.13's, hash-based and unchecked (flags 0b01), and its hash is the
        # source's: the interpreter will load it and never compile the source
        if magic != CPYTHON_313_MAGIC or int.from_bytes(flags, "little") != UNCHECKED_HASH:
            wrong_flags.append(str(module.relative_to(BUILD)))
        # (source_hash is keyed by the running interpreter's magic: the venv is 3.13)
        elif source_hash != importlib.util.source_hash(module.read_bytes()):
            stale.append(str(module.relative_to(BUILD)))
    assert (missing, wrong_flags, stale) == ([], [], [])


def test_no_bytecode_without_its_source_or_of_another_interpreter() -> None:
    # when
    pycs = [path for path in _all_paths() if path.suffix == ".pyc"]
    orphans = [
        str(pyc.relative_to(BUILD))
        for pyc in pycs
        if not (pyc.parent.parent / f"{pyc.name.split('.', 1)[0]}.py").is_file()
    ]
    foreign = [str(pyc.relative_to(BUILD)) for pyc in pycs if CPYTHON_313_TAG not in pyc.name]

    # then every .pyc is a 3.13 compilation of a module that ships
    assert pycs
    assert (orphans, foreign) == ([], [])


@pytest.mark.parametrize("function", READ_FUNCTIONS)
def test_read_functions_carry_neither_requests_nor_cryptography(
    built_template: dict[str, Any], function: str
) -> None:
    # when
    names = _top_level_names(_function_roots(built_template, function))

    # then
    assert "repoconn_core" in names
    assert names & {"requests", "cryptography", "repoconn_providers"} == set()
