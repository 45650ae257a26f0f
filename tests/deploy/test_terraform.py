"""terraform/aws: `terraform fmt -check`, `terraform validate` and `terraform test` (mocked AWS
provider, tests/*.tftest.hcl) pass, run in a temporary copy so no .terraform folder lands in the
repository; the README documents every variable and output; the values the module hands the
Helm chart are values the chart has."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "terraform" / "aws"
CHART_VALUES = ROOT / "helm" / "forge" / "values.yaml"
# The AWS provider, unpacked where `terraform init -plugin-dir` finds it (no registry needed).
PLUGIN_DIR = Path(os.environ.get("FORGE_TF_PLUGIN_DIR", "/opt/tf-plugins"))
PROVIDER = PLUGIN_DIR / "registry.terraform.io" / "hashicorp" / "aws"


def terraform_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    config = home / "terraformrc"
    config.write_text("")  # no user configuration, no plugin cache, no checkpoint calls
    env.update(
        TF_CLI_CONFIG_FILE=str(config),
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        CHECKPOINT_DISABLE="1",
    )
    env.pop("TF_PLUGIN_CACHE_DIR", None)
    return env


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["terraform", *args, "-no-color"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    if shutil.which("terraform") is None:
        pytest.fail("terraform is not on PATH: these checks need terraform >= 1.11 (see README)")
    if not PROVIDER.is_dir():
        pytest.fail(
            f"the AWS provider is not in {PLUGIN_DIR} (set FORGE_TF_PLUGIN_DIR to the folder"
            " holding registry.terraform.io/hashicorp/aws/<version>/<os_arch>)"
        )
    base = tmp_path_factory.mktemp("terraform")
    copy = base / "aws"
    skipped = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*")
    shutil.copytree(MODULE, copy, ignore=skipped)
    env = terraform_env(base)
    init = run(["init", "-backend=false", f"-plugin-dir={PLUGIN_DIR}"], copy, env)
    assert init.returncode == 0, init.stdout + init.stderr
    yield copy, env


def test_module_is_formatted(workdir: tuple[Path, dict[str, str]]) -> None:
    copy, env = workdir
    result = run(["fmt", "-check", "-recursive", "-diff"], copy, env)
    assert result.returncode == 0, f"run `terraform fmt -recursive terraform/`:\n{result.stdout}"


def test_module_validates(workdir: tuple[Path, dict[str, str]]) -> None:
    copy, env = workdir
    result = run(["validate"], copy, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success! The configuration is valid." in result.stdout


def test_terraform_test_passes_every_run(workdir: tuple[Path, dict[str, str]]) -> None:
    copy, env = workdir
    runs = sum(
        len(re.findall(r'^run "', path.read_text(), re.MULTILINE))
        for path in (MODULE / "tests").glob("*.tftest.hcl")
    )
    assert runs >= 6
    result = run(["test"], copy, env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Every run passed: none skipped because an earlier one failed.
    assert f"Success! {runs} passed, 0 failed." in output, output
    # Nothing was left behind in the copy's folder but terraform's own.
    assert not list(copy.glob("*.tfstate"))


def declared(kind: str) -> set[str]:
    names: set[str] = set()
    for path in MODULE.glob("*.tf"):
        names |= set(re.findall(rf'^{kind} "([a-z0-9_]+)"', path.read_text(), re.MULTILINE))
    return names


def test_readme_documents_every_variable_and_output() -> None:
    readme = (MODULE / "README.md").read_text()
    variables, outputs = declared("variable"), declared("output")
    assert {"deletion_protection", "vpc_cidr", "db_backup_retention_days"} <= variables
    assert {"helm_values", "external_secrets_manifests", "databases"} <= outputs
    missing = sorted(name for name in variables | outputs if f"`{name}`" not in readme)
    assert not missing, f"terraform/aws/README.md does not describe {missing}"
    for path in MODULE.glob("*.tf"):
        text = path.read_text()
        for block in re.findall(r'^variable "[a-z0-9_]+" \{.*?^\}', text, re.M | re.S):
            assert re.search(r"^  description\s*=", block, re.M), block.splitlines()[0]
            assert re.search(r"^  type\s*=", block, re.M), block.splitlines()[0]


def chart_has(values: dict[str, Any], dotted: str) -> bool:
    node: Any = values
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def test_helm_values_the_module_sets_exist_in_the_chart() -> None:
    outputs = (MODULE / "outputs.tf").read_text()
    # The keys of local.helm_values, as the README's mapping table lists them.
    readme = (MODULE / "README.md").read_text()
    mapped = re.findall(r"^\| `(global\.[A-Za-z0-9_.]+)` \|", readme, re.MULTILINE)
    assert len(mapped) >= 6, "the README's chart mapping table is missing"
    for key in mapped:
        assert key.rsplit(".", 1)[-1] in outputs, f"{key} is in the README, not in outputs.tf"
    chart = yaml.safe_load(CHART_VALUES.read_text())
    unknown = [key for key in mapped if not chart_has(chart, key)]
    assert not unknown, f"helm/forge/values.yaml has no {unknown}"
