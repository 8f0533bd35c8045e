"""Keep secrets out of logs, tables and reports.

Everything a workshop task writes about a host (commands, their output, error
lines) passes through `Redactor.clean`: credentials in URLs, private key blocks,
`password=`-style assignments and any value the instructor passed with --env.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

MASK = "***"

_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s@]+)@")
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
    re.DOTALL,
)
_ASSIGNMENT = re.compile(
    r"(?i)(?P<key>\b[A-Z0-9_]*(?:PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY)[A-Z0-9_]*\s*[=:]\s*)"
    r"(?P<value>[^\s'\"]+)"
)


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Pure: `text` with every known secret and credential-looking value masked."""
    cleaned = _PRIVATE_KEY.sub(f"{MASK}private key{MASK}", text)
    for secret in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        cleaned = cleaned.replace(secret, MASK)
    cleaned = _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{MASK}@", cleaned)
    return _ASSIGNMENT.sub(lambda m: f"{m.group('key')}{MASK}", cleaned)


_SECRET_NAME = re.compile(r"(?i)PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|AUTH|CREDENTIAL")


def secrets_in_env(env: dict[str, str]) -> list[str]:
    """Pure: secrets among --env settings: values of secret-sounding names, URL passwords."""
    found: list[str] = []
    for key, value in env.items():
        if _SECRET_NAME.search(key):
            found.append(value)
        for match in _URL_CREDENTIALS.finditer(value):
            userinfo = match.group("userinfo")
            found.append(userinfo)
            if ":" in userinfo:
                found.append(userinfo.split(":", 1)[1])
    return found


def redacted(value: Any, redactor: Redactor) -> Any:
    """Pure: a JSON-like value with every string passed through the redactor."""
    if isinstance(value, str):
        return redactor.clean(value)
    if isinstance(value, list):
        return [redacted(item, redactor) for item in value]
    if isinstance(value, dict):
        return {key: redacted(item, redactor) for key, item in value.items()}
    return value


@dataclass
class Redactor:
    secrets: list[str] = field(default_factory=list)

    def clean(self, text: str) -> str:
        return redact_text(text, self.secrets)
