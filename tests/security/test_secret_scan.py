"""Secret scan over the repository: no private keys, cloud/API tokens or password literals are
committed (or about to be: untracked files that are not ignored count too), and `.env` is ignored.

The patterns are built at run time from pieces, so this file never matches itself. Every rule is
proven to fire on a planted sample (a scanner that finds nothing proves nothing).
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.paths import REPO

MAX_BYTES = 2_000_000

BEGIN = "-----BEGIN"
#: high-confidence token shapes: any hit is a finding, wherever it is
STRONG: dict[str, re.Pattern] = {
    "PEM private key": re.compile(BEGIN + r" (?:RSA |DSA |EC |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret access key": re.compile(r"(?i)aws_?secret_?access_?key\W{0,4}[:=]\W{0,3}[A-Za-z0-9/+=]{40}\b"),
    "GitHub token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[0-9A-Za-z-]{10,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"),
    "JSON web token": re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
    "private key in a PuTTY file": re.compile(r"PuTTY-User-Key-File-\d"),
}

KEY = r"[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|credentials?)[\w.-]*"
#: `key: "value"` / `key = 'value'` string literals, in any text file
QUOTED = re.compile(r"(?i)\b(?P<key>" + KEY + r")[\"']?\s*[:=]\s*(?P<q>[\"'])(?P<val>[^\"'\n]*)(?P=q)")
#: unquoted `key: value` / `KEY=value` in configuration files (YAML, env, properties, ini, toml, conf)
UNQUOTED = re.compile(r"(?im)^[ \t]*(?:-[ \t]+)?(?:export[ \t]+)?(?P<key>" + KEY + r")[ \t]*[:=][ \t]*(?P<val>[^\s#\"'][^\s#]*)")
CONFIG_SUFFIXES = {".yaml", ".yml", ".env", ".properties", ".ini", ".toml", ".conf", ".cfg", ".example"}

#: a line holding a deliberate fake (e.g. a test's own value) says so: `secret-scan: ignore`
PRAGMA = "secret-scan: ignore"
#: what a value may be without being a secret: empty, an environment/template reference, a file
#: path, a placeholder, a code expression, or a key name
PLACEHOLDER = re.compile(
    r"(?x)^(?:"
    r"|\$\{?[\w:?+=.\- ]*\}?.*"               # ${HS_SPARK_SECRET}, $VAR, ${VAR:-...}
    r"|<[^>]*>|\{\{.*\}\}|%\(?\w+\)?s?"       # <placeholder>, {{ template }}, %(name)s
    r"|/[\w./-]*|\.{0,2}/[\w./-]+|[\w-]+\.(?:txt|key|pem|json|yaml)"  # file paths
    r"|(?i:changeme|change-me|placeholder|example|redacted|dummy|none|null|true|false|yes|no)|\*+|x{3,}|\.\.\."
    r"|[A-Z][A-Z0-9_]*(?:_FILE|_SECRET|_TOKEN|_KEY|_PASSWORD)?"       # a variable/key NAME
    r"|[\w.]+\(.*|[\w.]+\[.*"                                            # code: calls, indexing
    r"|[&*][\w-]+"                                                      # YAML anchors and aliases
    r"|[a-z0-9._ -]*(?i:secret|auth|token|password|key)[a-z0-9._ -]*"   # the NAME/label of a secret
    r")$"
)
SECRET_FILE_NAMES = re.compile(r"(?i)(^|/)(\.env|id_(rsa|dsa|ecdsa|ed25519)|.*\.(pem|key|p12|pfx|jks|keystore)"
                               r"|\.?kubeconfig|credentials(\.json)?|\.netrc|\.pgpass)$")


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def candidate_files() -> list[str]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the scan covers what git would commit")
    files = _git("ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    return sorted({f for f in files if f and (REPO / f).is_file()})


def _text(path: Path) -> str | None:
    data = path.read_bytes()[:MAX_BYTES]
    if b"\0" in data:
        return None
    return data.decode("utf-8", errors="replace")


def looks_secret(value: str) -> bool:
    value = value.strip()
    if PLACEHOLDER.match(value):
        return False
    return len(value) >= 6


def scan_text(text: str, config_file: bool) -> list[str]:
    """The findings in one file's text: '<rule>: <excerpt>' (the value itself is never echoed)."""
    found = [f"{rule}" for rule, rx in STRONG.items() if rx.search(text)]
    text = "\n".join(line for line in text.splitlines() if PRAGMA not in line)
    for m in QUOTED.finditer(text):
        if looks_secret(m.group("val")):
            found.append(f"password/secret literal for {m.group('key')!r}")
    if config_file:
        for m in UNQUOTED.finditer(text):
            if looks_secret(m.group("val")):
                found.append(f"password/secret value for {m.group('key')!r}")
    return found


def test_no_keys_tokens_or_password_literals_in_the_repository(candidate_files):
    findings = []
    for name in candidate_files:
        text = _text(REPO / name)
        if text is None:
            continue
        config = Path(name).suffix in CONFIG_SUFFIXES or Path(name).name.startswith(".env")
        findings += [f"{name}: {what}" for what in scan_text(text, config)]
    assert not findings, "possible secrets committed:\n" + "\n".join(findings)
    assert len(candidate_files) > 50  # the scan really walked the repository


def test_no_key_or_env_files_are_committed(candidate_files):
    bad = [f for f in candidate_files if SECRET_FILE_NAMES.search(f)]
    assert not bad, f"files that hold secrets by their nature: {bad}"


def test_no_strong_secret_pattern_anywhere_in_history():
    """Removing a key in a later commit does not un-leak it: scan every commit's patch too."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    log = subprocess.run(["git", "log", "--all", "-p", "--no-color", "--no-ext-diff"], cwd=REPO,
                         capture_output=True, text=True, errors="replace", check=True).stdout
    assert log, "git log gave nothing"
    hits = [rule for rule, rx in STRONG.items() if rx.search(log)]
    assert not hits, f"found in git history: {hits}"


def test_dot_env_is_ignored_by_git_and_by_the_image_build_context():
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    for path in (".env", "sub/dir/.env"):
        probe = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=REPO)
        assert probe.returncode == 0, f"{path} is not git-ignored"
    assert ".env" in (REPO / ".dockerignore").read_text().split()
    example = (REPO / ".env.example").read_text()
    assert re.search(r"(?m)^HS_SPARK_SECRET=$", example), ".env.example must leave the secret empty"
    probe = subprocess.run(["git", "check-ignore", "-q", "--no-index", ".env.example"], cwd=REPO)
    assert probe.returncode == 1, ".env.example must stay committed"


# -- the scanner itself finds what it should, and only that ------------------------------------
PLANTED = {
    "pem": BEGIN + " RSA PRIVATE KEY-----\nMIIEow...\n",
    "aws": "key_id = " + "AKIA" + "ABCDEFGHIJKLMNOP" + "\n",
    "gh": "token: " + "ghp_" + "a1B2" * 9 + "\n",
    "quoted": 'db_password = "' + "hunter2hunter2" + '"\n',
    "yaml": "spark.authenticate.secret: " + "s3cr3t-v4lue-123" + "\n",
    "env": "HS_SPARK_SECRET=" + "0123456789abcdef0123" + "\n",
}
CLEAN = {
    "env-ref": "SPARK_RPC_AUTHENTICATION_SECRET: ${HS_SPARK_SECRET}\n",
    "empty": "HS_SPARK_SECRET=\n",
    "file": "SPARK_RPC_AUTHENTICATION_SECRET_FILE: /run/secrets/spark-rpc-secret\n",
    "code": 'secret = target._env()["HS_SPARK_SECRET"]\nsecret = secrets.token_hex(32)\n',
    "name": "secretName: hyperspark-spark-auth\n",
    "label": 'RPC_SECRET = "rpc secret"\n',
    "placeholder": 'password: "<your password>"\n',
    "anchor": "x-spark-secret: &spark-secret\n  secrets:\n    - source: x\n",
    "pragma": "tok" + "en = 'fake-for-a-test'  # " + PRAGMA + "\n",
}


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_scanner_finds_a_planted_secret(name):
    assert scan_text(PLANTED[name], config_file=True), name


@pytest.mark.parametrize("name", sorted(CLEAN))
def test_scanner_accepts_references_and_placeholders(name):
    assert scan_text(CLEAN[name], config_file=True) == [], name
