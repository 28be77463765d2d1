"""Scrubbing secrets out of free text: error messages and log lines that echo a URL, an argument, a
server's stderr or a provider's answer.

Text from outside (an exception, a process's output) can hold a secret anywhere, so known secret
strings are replaced wherever they occur, by their masked form. The secrets come from the
classifier (:func:`maghub.security.classifier.secret_texts`). :data:`log_redactor` learns the secrets
of every model and MCP server maghub connects to, and the log formatters pass every line through it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, unquote

from maghub.security.secrets import mask_secret

# Shorter strings are not worth a secret's name, and replacing them would garble ordinary words.
MIN_SECRET_LENGTH = 6


class Redactor:
    """Replaces known secrets (and their URL-encoded and -decoded forms) in text by their masked form."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()  # log lines are formatted in any thread
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        new = {
            variant
            for secret in secrets
            for variant in (secret, unquote(secret), quote(secret, safe=""))
            if len(variant) >= MIN_SECRET_LENGTH
        } - self._secrets
        if not new:
            return
        with self._lock:
            self._secrets |= new
            # Longest first: a secret that contains another is replaced whole.
            alternatives = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(map(re.escape, alternatives)))

    def __call__(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(lambda match: mask_secret(match.group()), text)


log_redactor = Redactor()
"""Every secret this process has used to connect to something; the log formatters scrub with it."""
