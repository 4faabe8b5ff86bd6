"""A well-kept policy checker over the rendered manifests: Checkov's Kubernetes checks on every overlay
and the driver, as kustomize renders them. Every finding is fixed or waived in ``k8s/checkov.yaml`` (a
commented list that says why) or by a ``checkov.io/skip<n>`` annotation with its reason; a waiver that
no longer waives anything fails too.

Checkov lives in its own virtual environment (its pins clash with the kit's): ``.venv/tools/checkov``
or ``HYPERSPARK_CHECKOV``; the version is pinned here and in ``k8s/checkov.yaml``.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.k8s.test_manifests import RENDERS, rendered  # noqa: F401 - the session fixture
from tests.paths import REPO

pytestmark = pytest.mark.k8s

CHECKOV_VERSION = "3.3.30"
WAIVERS = REPO / "k8s" / "checkov.yaml"


def _checkov() -> str:
    tool_venv = REPO / ".venv" / "tools" / "checkov" / "bin" / "checkov"
    for candidate in (os.environ.get("HYPERSPARK_CHECKOV"), str(tool_venv), shutil.which("checkov")):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.skip(f"checkov is not installed: python -m venv .venv/tools/checkov && "
                f".venv/tools/checkov/bin/pip install checkov=={CHECKOV_VERSION}")


def _waived() -> dict[str, str]:
    """Check id -> the comment above it in k8s/checkov.yaml (every waiver must say why)."""
    out: dict[str, str] = {}
    comment: list[str] = []
    for line in WAIVERS.read_text().splitlines():
        text = line.strip()
        if text.startswith("#"):
            comment.append(text.lstrip("# "))
        elif text.startswith("- CKV_"):
            out[text[2:]] = " ".join(comment)
            comment = []
        else:
            comment = []
    assert set(out) == set(yaml.safe_load(WAIVERS.read_text())["skip-check"])
    return out


def test_checkov_finds_nothing_but_the_commented_waivers(rendered, tmp_path):  # noqa: F811
    checkov = _checkov()
    version = subprocess.run([checkov, "--version"], capture_output=True, text=True, timeout=120).stdout.strip()
    assert version == CHECKOV_VERSION
    for name in RENDERS:
        (tmp_path / f"{name.replace('/', '-')}.yaml").write_text(yaml.safe_dump_all(rendered[name]))
    # one run WITHOUT the config file's skips: what fails must be exactly what the file waives
    proc = subprocess.run([checkov, "-d", str(tmp_path), "--framework", "kubernetes", "-o", "json",
                           "--compact", "--skip-download"], capture_output=True, text=True, timeout=600)
    data = json.loads(proc.stdout)
    reports = data if isinstance(data, list) else [data]
    assert reports and all(r["summary"]["parsing_errors"] == 0 for r in reports), proc.stderr[-2000:]
    assert sum(r["summary"]["resource_count"] for r in reports) >= sum(len(v) for v in rendered.values()) - 5
    failed = {f["check_id"] for r in reports for f in r["results"]["failed_checks"]}
    skipped = {(f["check_id"], f["resource"]) for r in reports for f in r["results"]["skipped_checks"]}
    waived = _waived()
    assert failed == set(waived), f"not waived: {failed - set(waived)}; waiving nothing: {set(waived) - failed}"
    for check, why in waived.items():
        assert check in why and len(why) > 80, f"{check}: the waiver must say why"
    # the per-object waiver (an annotation with its reason) covers the HDFS StatefulSets alone
    assert {c for c, _ in skipped} == {"CKV_K8S_22"}
    assert {res.rsplit(".", 1)[-1] for _, res in skipped} == {"namenode", "datanode"}
    assert all(r["summary"]["passed"] > 0 for r in reports)
