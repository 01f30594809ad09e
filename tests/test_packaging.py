"""The package as published: a wheel with complete metadata, every import declared, and the
MCP registry entry (server.json) valid against the registry's schema and in step with it."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import tomllib
from email.message import Message
from email.parser import Parser
from functools import cache
from importlib.metadata import distribution, packages_distributions
from pathlib import Path
from typing import Any
from zipfile import ZipFile

import pytest
from jsonschema import Draft7Validator
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from pydantic import AliasChoices, SecretStr

import openrouter_image_mcp
from openrouter_image_mcp.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
SCHEMA = ROOT / "tests" / "schemas" / "server.schema.json"
REGISTRY_NAME = "io.github.openrouter-image-mcp/openrouter-image-mcp"
# fastmcp is a meta-package: its modules ship in fastmcp-slim, pinned to the same version.
SHIPPED_BY = {"fastmcp-slim": "fastmcp"}


# --- The wheel ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built offline from a copy of the build inputs, by the declared backend."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "openrouter_image_mcp",
        source / "openrouter_image_mcp",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    out = tmp_path_factory.mktemp("dist")
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index"]
    build += ["--no-build-isolation", "--wheel-dir", str(out), str(source)]
    result = subprocess.run(build, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    (built,) = out.glob("*.whl")
    return built


def wheel_metadata(wheel: Path) -> Message:
    with ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return Parser().parsestr(archive.read(name).decode())


def test_the_wheel_carries_complete_metadata(wheel: Path) -> None:
    metadata = wheel_metadata(wheel)
    assert metadata["Name"] == "openrouter-image-mcp"
    assert metadata["Version"] == PROJECT["version"] == openrouter_image_mcp.__version__
    assert metadata["License-Expression"] == "MIT"
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata["Author"]
    assert {"mcp", "openrouter", "vision"} <= set(metadata["Keywords"].split(","))
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL"))
    assert {"Homepage", "Repository", "Issues"} <= set(urls)
    classifiers = metadata.get_all("Classifier")
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert not any(c.startswith("License ::") for c in classifiers)  # the SPDX field says it
    assert metadata.get_payload().startswith("# OpenRouter Image MCP")  # the README
    with ZipFile(wheel) as archive:
        (license_file,) = [n for n in archive.namelist() if n.endswith("/licenses/LICENSE")]
        assert archive.read(license_file).decode().startswith("MIT License")
        entry_points = [n for n in archive.namelist() if n.endswith("entry_points.txt")]
        assert (
            "openrouter-image-mcp = openrouter_image_mcp.cli:main"
            in archive.read(entry_points[0]).decode()
        )


def test_the_wheel_declares_what_pyproject_declares(wheel: Path) -> None:
    declared = {Requirement(r).name for r in wheel_metadata(wheel).get_all("Requires-Dist")}
    expected = {Requirement(r).name for r in PROJECT["dependencies"]}
    for extra in PROJECT["optional-dependencies"].values():
        expected |= {Requirement(r).name for r in extra}
    assert declared == expected
    assert set(wheel_metadata(wheel).get_all("Provides-Extra")) == {"otel", "test"}


# --- Dependencies ------------------------------------------------------------------------------


def imported_distributions(*folders: str) -> dict[str, set[str]]:
    """The distributions whose modules the code under `folders` imports, and where."""
    owners = packages_distributions()
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for module in imported_modules(path):
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in {"openrouter_image_mcp", folder}:
                    continue
                assert top in owners, f"{path.relative_to(ROOT)} imports {top}: not installed"
                for owner in map(canonicalize_name, shipping(module, owners[top])):
                    name = SHIPPED_BY.get(owner, owner)
                    found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, in full (`from a import b` imports a.b when b is one)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
            modules |= {f"{node.module}.{alias.name}" for alias in node.names}
    return modules


def shipping(module: str, candidates: list[str]) -> list[str]:
    """The distributions among `candidates` that ship `module`: all of them for a package of
    one distribution, the one with the module's files for a namespace package several share
    (opentelemetry-api ships opentelemetry.trace, opentelemetry-sdk opentelemetry.sdk)."""
    if len(set(candidates)) == 1:
        return candidates
    if "." not in module:
        # The namespace itself holds no code (`from opentelemetry import trace` imports the
        # submodule, which says who ships it).
        return []
    path = module.replace(".", "/")
    return [
        name
        for name in candidates
        if any(
            str(file).startswith(f"{path}/") or str(file) == f"{path}.py"
            for file in distribution(name).files or ()
        )
    ]


@cache
def requirements(group: str) -> dict[str, Requirement]:
    listed = (
        PROJECT["dependencies"] if group == "runtime" else PROJECT["optional-dependencies"][group]
    )
    return {canonicalize_name(r.name): r for r in map(Requirement, listed)}


def test_every_package_the_server_imports_is_a_declared_dependency() -> None:
    # The `otel` extra's packages are imported only when tracing is asked for (export.py).
    declared = requirements("runtime") | requirements("otel")
    undeclared = {
        name: sorted(paths)
        for name, paths in imported_distributions("openrouter_image_mcp").items()
        if name not in declared
    }
    assert not undeclared, f"add these to [project] dependencies: {undeclared}"
    optional = {
        name: sorted(paths)
        for name, paths in imported_distributions("openrouter_image_mcp").items()
        if name in requirements("otel")
    }
    assert set(optional) == set(requirements("otel")), "the otel extra installs unused packages"
    assert {path for paths in optional.values() for path in paths} == {
        "openrouter_image_mcp/telemetry/export.py"
    }


def test_the_tests_run_with_the_otel_extra() -> None:
    otel = {str(requirement) for requirement in requirements("otel").values()}
    assert otel <= {str(requirement) for requirement in requirements("test").values()}


def test_every_package_the_tests_import_is_declared() -> None:
    declared = requirements("runtime") | requirements("test")
    undeclared = {
        name: sorted(paths)
        for name, paths in imported_distributions("tests").items()
        if name not in declared
    }
    assert not undeclared, f"add these to the test extra: {undeclared}"


def test_every_runtime_dependency_and_extra_is_used() -> None:
    imported = set(imported_distributions("openrouter_image_mcp"))
    unused = set(requirements("runtime")) - imported
    assert not unused, f"nothing imports {unused}"
    for name, requirement in requirements("runtime").items():
        for extra in requirement.extras:
            # An extra pulls in packages for one feature: the code must import each of them.
            pulled = [
                requirement
                for requirement in map(Requirement, distribution(name).requires or [])
                if requirement.marker
                and requirement.marker.evaluate({"extra": extra})
                and not requirement.marker.evaluate({"extra": ""})
            ]
            assert pulled, f"{name}[{extra}] is not an extra of {name}"
            unused = [p.name for p in pulled if canonicalize_name(p.name) not in imported]
            assert not unused, f"{name}[{extra}] installs {unused}, which nothing imports"


# --- server.json: the MCP registry entry -------------------------------------------------------


@cache
def server_json() -> dict[str, Any]:
    return json.loads((ROOT / "server.json").read_text())


def test_server_json_is_valid_against_the_registry_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    assert server_json()["$schema"] == schema["$id"]  # the vendored copy is the one it names
    validator = Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(server_json())]
    assert not errors, errors


def test_server_json_is_the_package_in_this_checkout() -> None:
    entry = server_json()
    version = PROJECT["version"]
    assert entry["name"] == REGISTRY_NAME
    assert entry["version"] == version
    pypi, oci = entry["packages"]
    assert (pypi["registryType"], pypi["identifier"]) == ("pypi", PROJECT["name"])
    assert pypi["version"] == version
    assert oci["registryType"] == "oci"
    assert oci["identifier"].endswith(f"/{PROJECT['name']}:{version}")
    for package in entry["packages"]:
        assert package["transport"] == {"type": "stdio"}
        # Registry clients append these to the command: the way to ask for stdio.
        (argument,) = package["packageArguments"]
        assert (argument["name"], argument["value"]) == ("--transport", "stdio")


def setting_variables() -> dict[str, bool]:
    """Every setting's environment variable, and whether its value is a secret."""
    variables = {}
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            alias = alias.choices[0]
        env = alias if isinstance(alias, str) else f"IMAGE_MCP_{name.upper()}"
        secret = field.repr is False or SecretStr in getattr(field.annotation, "__args__", ())
        variables[env] = secret
    return variables


@pytest.mark.parametrize("index", [0, 1], ids=["pypi", "oci"])
def test_server_json_describes_every_setting_and_marks_the_secrets(index: int) -> None:
    listed = {v["name"]: v for v in server_json()["packages"][index]["environmentVariables"]}
    expected = setting_variables()
    missing, unknown = set(expected) - set(listed), set(listed) - set(expected)
    assert not missing, f"describe these settings in server.json: {missing}"
    assert not unknown, f"server.json describes settings that do not exist: {unknown}"
    for name, is_secret in expected.items():
        assert listed[name]["description"], name
        assert listed[name].get("isSecret", False) is is_secret, name
    assert listed["OPENROUTER_API_KEY"]["isRequired"] is True
    assert {name for name, v in listed.items() if v.get("isRequired")} == {"OPENROUTER_API_KEY"}


def test_the_registry_name_is_in_the_readme_and_on_the_image() -> None:
    # The registry checks the PyPI description (the README) and the image label for it.
    readme = (ROOT / "README.md").read_text()
    assert re.search(rf"^<!-- mcp-name: {re.escape(REGISTRY_NAME)} -->$", readme, re.M)
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f'io.modelcontextprotocol.server.name="{REGISTRY_NAME}"' in dockerfile
