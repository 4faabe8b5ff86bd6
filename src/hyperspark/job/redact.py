"""THE rule for what may carry a secret, and how it is hidden (``***``) wherever the kit writes a line.

A conf or override may carry a secret when its key or its value matches ``token``, ``secret``,
``password``, ``passwd``, ``key`` or ``credential`` (any case), or its value is a URI with credentials
(``scheme://user:password@host``). The rule errs on the side of hiding: a path that happens to hold
"key" is hidden in logs too (the run is unaffected).

Used by the ops side (``hyperspark.ops.util.secrets``: what goes to spark-submit through a 0600 properties
file instead of argv; the driver log's ``$ spark-submit`` line, state ``start:`` lines, crash logs,
``runs.json``) and by the warm driver's log. The job layer holds it so both sides apply one rule.
"""
from __future__ import annotations

import json
import os
import re
from typing import Any, Iterable

REDACTED = "***"
#: ``--set`` overrides that may carry a secret reach a cold driver here (JSON list of ``KEY=VALUE``), not in its
#: argv: ``/proc/PID/environ`` is readable by its owner only, ``/proc/PID/cmdline`` by every local user
SECRET_SET_ENV = "HYPERSPARK_SECRET_SET"

#: words that mark a key (or a value) as one that may carry a secret
SECRET_WORDS = re.compile(r"(?i)token|secret|password|passwd|key|credential")
#: ``scheme://user:password@`` (the user part alone is kept out too: it is half of the pair)
URI_CREDENTIALS = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/@\s'\"]+:[^/@\s'\"]*)@")
#: ``key=value`` inside a line (argv elements, ``--conf k=v``, ``--set k=v``)
_PAIR = re.compile(r"(?P<k>[A-Za-z_][\w.\-]*)=(?P<v>[^\s'\",;]*)")
#: ``'key': 'value'`` / ``"key": "value"`` (a dict or JSON in a traceback or a JSON file)
_QUOTED = re.compile(r"(?P<q1>['\"])(?P<k>[^'\"\n]*)(?P=q1)(?P<sep>\s*:\s*)(?P<q2>['\"])(?P<v>[^'\"\n]*)(?P=q2)")


def is_secret(key: str, value: str = "") -> bool:
    """True when ``key`` or ``value`` may carry a secret (see the module)."""
    return bool(SECRET_WORDS.search(key) or SECRET_WORDS.search(value) or URI_CREDENTIALS.search(value))


def redact_uri(text: str) -> str:
    """``scheme://user:password@host`` -> ``scheme://***@host`` (everything else unchanged)."""
    return URI_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", text)


def redact_text(text: str) -> str:
    """Every credential URI, ``key=value`` and quoted ``'key': 'value'`` pair that may carry a secret,
    with its value replaced by ``***``."""
    text = redact_uri(text)

    def pair(m: re.Match) -> str:
        return f"{m.group('k')}={REDACTED}" if is_secret(m.group("k"), m.group("v")) else m.group(0)

    def quoted(m: re.Match) -> str:
        if not SECRET_WORDS.search(m.group("k")) and not SECRET_WORDS.search(m.group("v")):
            return m.group(0)
        q1, q2 = m.group("q1"), m.group("q2")
        return f"{q1}{m.group('k')}{q1}{m.group('sep')}{q2}{REDACTED}{q2}"

    return _QUOTED.sub(quoted, _PAIR.sub(pair, text))


def redact_argv(argv: Iterable[object]) -> list[str]:
    """A command line with every element passed through :func:`redact_text`."""
    return [redact_text(str(a)) for a in argv]


def secret_overrides() -> list[str]:
    """The ``--set KEY=VALUE`` overrides the launcher passed in :data:`SECRET_SET_ENV` (none: ``[]``)."""
    try:
        items = json.loads(os.environ.get(SECRET_SET_ENV) or "[]")
    except ValueError:
        return []
    return [str(i) for i in items] if isinstance(items, list) else []


def redact_doc(doc: Any) -> Any:
    """A JSON document (e.g. the spec recorded in ``spec.json``) with credential URIs hidden and the values
    of keys that name a secret replaced by ``***``."""
    if isinstance(doc, dict):
        return {k: (REDACTED if isinstance(k, str) and SECRET_WORDS.search(k) and isinstance(v, str)
                    else redact_doc(v)) for k, v in doc.items()}
    if isinstance(doc, list):
        return [redact_doc(v) for v in doc]
    return redact_uri(doc) if isinstance(doc, str) else doc
