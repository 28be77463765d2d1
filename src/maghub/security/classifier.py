"""The one secret classifier (SPEC §9): which parts of a configuration value carry a credential.

Every use of secrets goes through :func:`classify`: responses show the secret parts masked
(:func:`masked`), exports leave them blank (:func:`blanked`), storage encrypts the values that hold
some (:func:`sealed`), log lines and error messages have them scrubbed (:func:`secret_texts` feeds
:class:`maghub.security.redaction.Redactor`), and a masked value posted back is replaced by the stored
secret (:func:`restored`).

A value is cut into pieces, some of them secret: a whole API key; the user name and password of a URL
and its credential-like query values; the value after ``--token`` or in ``--api-key=...``, a bearer
token, a well-known token format (``sk-…``, ``ghp_…``) or a random-looking run in a command argument;
the credentials of a URL (a DSN) inside an argument or an environment value. Configurations name the
kind of each of their secret-carrying fields in a :data:`SecretFields` mapping.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import unquote_plus, urlsplit

from maghub.security.secrets import MASK_MARK, is_masked_form, mask_secret

# --- pieces --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    """A run of a value's text. Secret pieces are masked, blanked or restored; ``syntax`` pieces are the
    punctuation of a secret (the ``:`` and ``@`` of a URL's user info): shown when masked, dropped when
    blanked. ``label`` says what the secret is in messages ("credentials", "query api_key"; "" for the
    whole value); ``slot`` tells secrets of one value apart when a masked value is matched to the stored one."""

    text: str
    secret: bool = False
    syntax: bool = False
    label: str = ""
    slot: str = ""


def _plain(text: str) -> list[Piece]:
    return [Piece(text)] if text else []


def _whole(value: str) -> list[Piece]:
    return [Piece(value, secret=True, slot="value")] if value else []


# --- names and values that say "credential" ------------------------------------------------------------

# Names (environment variables, query parameters) that say they hold a credential, and values that look like one.
_SECRET_NAME = re.compile(
    r"key|token|secret|passw|pwd|auth|credential|cookie|session|private|signature|dsn", re.IGNORECASE
)
_TOKEN_LIKE = re.compile(r"^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_\-.=+]{16,}$")
# Headers safe to show; every other header value (Authorization, X-Api-Key, ...) is a secret.
_PUBLIC_HEADERS = frozenset({"accept", "accept-language", "content-type", "user-agent", "mcp-protocol-version"})


def is_secret_name_or_value(name: str, value: str) -> bool:
    """An environment variable or query parameter that holds a credential, by its name or its value."""
    return bool(_SECRET_NAME.search(name) or _TOKEN_LIKE.match(value))


def is_public_header(name: str) -> bool:
    return name.lower() in _PUBLIC_HEADERS


# --- URLs ----------------------------------------------------------------------------------------------

# A URL inside a longer text: scheme, "://", then up to white space or a quote.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]+")


def url_pieces(url: str) -> list[Piece]:
    """User name, password and credential-like query values of ``url`` are secret."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return _plain(url)
    try:
        urlsplit(url)
    except ValueError:  # not a URL after all (e.g. an unclosed IPv6 bracket)
        return _plain(url)
    authority_end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:authority_end], rest[authority_end:]
    pieces = [Piece(scheme + sep)]
    userinfo, at, host = authority.rpartition("@")
    if at:
        user, colon, password = userinfo.partition(":")
        if user:
            pieces.append(Piece(user, secret=True, label="credentials", slot="user"))
        if colon:
            pieces.append(Piece(colon, syntax=True, label="credentials"))
            if password:
                pieces.append(Piece(password, secret=True, label="credentials", slot="password"))
        pieces.append(Piece(at, syntax=True, label="credentials"))
    pieces += _plain(host)
    path, question, query_and_fragment = tail.partition("?")
    pieces += _plain(path + question)
    if question:
        query, hash_mark, fragment = query_and_fragment.partition("#")
        pieces += _query_pieces(query)
        pieces += _plain(hash_mark + fragment)
    return _merged(pieces)


def _query_pieces(query: str) -> list[Piece]:
    pieces: list[Piece] = []
    for index, pair in enumerate(query.split("&")):
        if index:
            pieces.append(Piece("&"))
        key, equals, value = pair.partition("=")
        name = unquote_plus(key)
        if equals and value and is_secret_name_or_value(name, unquote_plus(value)):
            pieces += [Piece(key + equals), Piece(value, secret=True, label=f"query {name}", slot=f"query {name}")]
        else:
            pieces += _plain(pair)
    return pieces


def text_pieces(text: str) -> list[Piece]:
    """The credentials of every URL in ``text`` (a DSN in an environment value or an argument) are secret."""
    pieces: list[Piece] = []
    position = 0
    for match in _URL_IN_TEXT.finditer(text):
        pieces += _plain(text[position : match.start()])
        pieces += url_pieces(match.group())
        position = match.end()
    pieces += _plain(text[position:])
    return _merged(pieces)


# --- command arguments ---------------------------------------------------------------------------------

# Flags whose value is a credential: the last word of the flag name ("--api-key", "--githubToken").
_SECRET_WORDS = frozenset(
    {"key", "apikey", "token", "secret", "password", "passwd", "pwd", "pat", "credential", "credentials"}
)
# Well-known token formats (OpenAI/Anthropic, Stripe, GitHub, GitLab, Slack, Hugging Face, AWS, Google, JWT).
_KNOWN_TOKEN = re.compile(
    r"(?<![A-Za-z0-9])(?:sk-|[sr]k_(?:live|test)_|gh[pousr]_|github_pat_|glpat-|xox[abposr]-|hf_|AKIA|AIza|eyJ)"
    r"[A-Za-z0-9_\-.]{12,}"
)
_BEARER = re.compile(r"\bbearer\s+([A-Za-z0-9_\-.~+/=]{8,})", re.IGNORECASE)
_RANDOM_RUN = re.compile(r"[A-Za-z0-9]{20,}")


@dataclass(frozen=True)
class ArgCredential:
    """A credential written in a command-line argument: where it is, and the flag it is the value of."""

    start: int
    end: int
    flag: str | None

    def text(self, arg: str) -> str:
        return arg[self.start : self.end]


def find_credential_in_arg(arg: str, previous: str | None) -> ArgCredential | None:
    """The credential in the argument ``arg`` (``previous``: the argument before it), if any."""
    if arg.startswith("-") and "=" in arg:
        flag, value = arg.split("=", 1)
        if _is_secret_flag(flag) and _is_literal(value):
            return ArgCredential(len(flag) + 1, len(arg), flag)
    elif previous and "=" not in previous and _is_secret_flag(previous) and _is_literal(arg):
        return ArgCredential(0, len(arg), previous)
    if match := _BEARER.search(arg):
        return ArgCredential(match.start(1), match.end(1), None)
    for match in _KNOWN_TOKEN.finditer(arg):
        if any(ch.isdigit() for ch in match.group()):  # real tokens have digits; "sk-mcp-server" has none
            return ArgCredential(match.start(), match.end(), None)
    for match in _RANDOM_RUN.finditer(arg):
        if _looks_random(match.group()):
            return ArgCredential(match.start(), match.end(), None)
    return None


def arg_pieces(arg: str, previous: str | None) -> list[Piece]:
    found = find_credential_in_arg(arg, previous)
    if found is None:
        return text_pieces(arg)
    secret = Piece(found.text(arg), secret=True, slot="value")
    return _merged([*text_pieces(arg[: found.start]), secret, *text_pieces(arg[found.end :])])


def _is_secret_flag(flag: str) -> bool:
    if not flag.startswith("-"):
        return False
    words = re.split(r"[-_.]+", re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", flag.lstrip("-")).lower())
    return words[-1] in _SECRET_WORDS


def _is_literal(value: str) -> bool:
    # "$API_KEY" names a variable (not a leak); "-v" is the next flag, not a value.
    return bool(value) and not value.startswith(("$", "-"))


def _looks_random(text: str) -> bool:
    """A long run of letters and digits that is a key, not a name.

    In a random string the next character is of another kind (upper, lower, digit) about 60 % of the
    time; in camel-case names ("MyServer2024Config") only at word boundaries, about 30 %.
    """
    kinds = ["u" if c.isupper() else "l" if c.islower() else "d" for c in text]
    if len(set(kinds)) < 3:
        return False
    changes = sum(a != b for a, b in itertools.pairwise(kinds))
    return changes >= 0.45 * (len(text) - 1)


def _merged(pieces: Iterable[Piece]) -> list[Piece]:
    """Adjacent plain pieces joined, so that equal texts cut differently compare equal."""
    result: list[Piece] = []
    for piece in pieces:
        if result and piece == Piece(piece.text) and result[-1] == Piece(result[-1].text):
            result[-1] = Piece(result[-1].text + piece.text)
        elif piece.text:
            result.append(piece)
    return result


# --- kinds of fields -----------------------------------------------------------------------------------


class Kind(StrEnum):
    """How a configuration field carries secrets."""

    WHOLE = "whole"  # the value is a secret (an API key)
    URL = "url"  # a URL: user info and credential-like query values
    ARGS = "args"  # command arguments
    ENV = "env"  # environment variables: secret by name or value, else the credentials of URLs in them
    HEADERS = "headers"  # HTTP headers: every value but those of a few public headers
    EVERY_VALUE = "every_value"  # a mapping whose every value is a secret (a model's extra_headers)


SecretFields = Mapping[str, Kind]
"""The secret-carrying fields of a configuration, in the order they are reported, with their kinds."""

Located = list[tuple[str, list[Piece]]]
"""A field value's strings, each with where it is in the field ("", "[2]", ".API_KEY") and its pieces."""


def classify(kind: Kind, value: Any) -> Located:
    """The one classifier: ``value`` (a string, a list of arguments or a mapping of strings) cut into pieces."""
    if kind == Kind.WHOLE:
        return [("", _whole(value))]
    if kind == Kind.URL:
        return [("", url_pieces(value))]
    if kind == Kind.ARGS:
        return [(f"[{index}]", arg_pieces(arg, value[index - 1] if index else None)) for index, arg in enumerate(value)]
    return [(f".{name}", _entry_pieces(kind, name, text)) for name, text in value.items()]


def _entry_pieces(kind: Kind, name: str, text: str) -> list[Piece]:
    if kind == Kind.EVERY_VALUE:
        return _whole(text)
    if kind == Kind.HEADERS:
        return _plain(text) if is_public_header(name) else _whole(text)
    return _whole(text) if is_secret_name_or_value(name, text) else text_pieces(text)


def _rebuild(kind: Kind, value: Any, texts: Sequence[str]) -> Any:
    """``value`` with its strings replaced by ``texts`` (in :func:`classify`'s order)."""
    if kind in (Kind.WHOLE, Kind.URL):
        return texts[0]
    if kind == Kind.ARGS:
        return list(texts)
    return dict(zip(value, texts, strict=True))


def _render(pieces: Sequence[Piece], secret: Callable[[Piece], str], syntax: bool) -> str:
    return "".join(
        secret(piece) if piece.secret else (piece.text if syntax or not piece.syntax else "") for piece in pieces
    )


def _masked_text(pieces: Sequence[Piece]) -> str:
    return _render(pieces, lambda piece: mask_secret(piece.text), syntax=True)


def _blanked_text(pieces: Sequence[Piece]) -> str:
    return _render(pieces, lambda piece: "", syntax=False)


def _join(pieces: Sequence[Piece]) -> str:
    return "".join(piece.text for piece in pieces)


# --- the uses -----------------------------------------------------------------------------------------


def masked(kind: Kind, value: Any) -> Any:
    """``value`` as it may be shown: every secret part masked (``sk-…abcd``, ``https://…:…@host``)."""
    if value is None:
        return None
    return _rebuild(kind, value, [_masked_text(pieces) for _, pieces in classify(kind, value)])


def blanked(kind: Kind, value: Any) -> tuple[Any, list[str]]:
    """``value`` as it may be exported: every secret part left out; and what was left out ("[1]",
    "[3] credentials", ".API_KEY", " query api_key")."""
    if value is None:
        return None, []
    located = classify(kind, value)
    blanks = []
    for where, pieces in located:
        labels = dict.fromkeys(piece.label for piece in pieces if piece.secret)
        blanks += [f"{where} {label}" if label else where for label in labels]
    return _rebuild(kind, value, [_blanked_text(pieces) for _, pieces in located]), blanks


def secret_texts(kind: Kind, value: Any) -> list[str]:
    """The secret strings in ``value``, to scrub from free text (log lines, error messages)."""
    if value is None:
        return []
    return [piece.text for _, pieces in classify(kind, value) for piece in pieces if piece.secret]


def restored(kind: Kind, sent: Any, stored: Any) -> Any:
    """``sent`` with every masked secret that a client read back replaced by the ``stored`` secret.

    A value sent back whole as it was shown is the stored value; within an edited value (a URL with
    another path, an argument list with one more flag) each masked part takes the stored secret of
    the same place (the URL's password, the ``api_key`` query value, the value after ``--token``)."""
    if sent is None or stored is None or sent == stored:
        return sent
    stored_by_where = dict(classify(kind, stored))
    masks = [(_masked_text(pieces), _join(pieces)) for pieces in stored_by_where.values()]
    shown = Counter(mask for mask, _ in masks)
    moved = {mask: text for mask, text in masks if shown[mask] == 1}  # unambiguous ones only
    texts = []
    for where, pieces in classify(kind, sent):
        counterpart = stored_by_where.get(where)
        text = _join(pieces)
        if counterpart is not None and _is_masked_copy(text, counterpart):
            text = _join(counterpart)
        elif counterpart is not None and any(piece.secret for piece in counterpart):
            text = _restore_pieces(pieces, counterpart)
        if kind == Kind.ARGS and MASK_MARK in text and text in moved:
            text = moved[text]  # an argument that moved: the stored one it is the masked form of
        texts.append(text)
    return _rebuild(kind, sent, texts)


def _is_masked_copy(text: str, stored: Sequence[Piece]) -> bool:
    if not any(piece.secret for piece in stored):
        return False
    shown = _masked_text(stored)
    if text in (shown, shown.replace(MASK_MARK, "...")):
        return True
    whole = _join(stored)
    return len(stored) == 1 and is_masked_form(text, whole)


def _restore_pieces(sent: Sequence[Piece], stored: Sequence[Piece]) -> str:
    secrets: dict[object, str] = {}
    for piece in stored:
        if piece.secret:
            secrets.setdefault(piece.slot, piece.text)
    parts: list[str] = []
    for piece in sent:
        original = secrets.get(piece.slot) if piece.secret else None
        keep = original is not None and is_masked_form(piece.text, original)
        parts.append(original if original is not None and keep else piece.text)
    return "".join(parts)


def masked_leftovers(kind: Kind, value: Any) -> list[str]:
    """Where ``value`` still holds a masked secret (``…``) that no stored secret replaced: a client sent
    back what it read for a value that has no stored secret. Reported like :func:`blanked`."""
    if value is None:
        return []
    found = []
    for where, pieces in classify(kind, value):
        if any(MASK_MARK in piece.text for piece in pieces if piece.secret):
            found.append(where)
    return found


# --- whole configurations -----------------------------------------------------------------------------


def masked_fields(values: Mapping[str, Any], fields: SecretFields) -> dict[str, Any]:
    """The secret-carrying ``fields`` of ``values``, masked."""
    return {name: masked(kind, values.get(name)) for name, kind in fields.items() if name in values}


def blanked_fields(values: Mapping[str, Any], fields: SecretFields) -> tuple[dict[str, Any], list[str]]:
    """The secret-carrying ``fields`` of ``values``, blanked, and what was blanked ("args[1]", "url credentials")."""
    result: dict[str, Any] = {}
    blanks: list[str] = []
    for name, kind in fields.items():
        if name in values:
            result[name], where = blanked(kind, values[name])
            blanks += [f"{name}{place}" for place in where]
    return result, blanks


def restored_fields(sent: Mapping[str, Any], stored: Mapping[str, Any], fields: SecretFields) -> dict[str, Any]:
    """The secret-carrying ``fields`` of ``sent``, masked secrets replaced by the ``stored`` ones."""
    return {name: restored(kind, sent.get(name), stored.get(name)) for name, kind in fields.items() if name in sent}


def secret_texts_of(values: Mapping[str, Any], fields: SecretFields) -> list[str]:
    return [text for name, kind in fields.items() for text in secret_texts(kind, values.get(name))]


def sealed(values: Mapping[str, Any], fields: SecretFields) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split the secret-carrying ``fields`` of ``values`` for storage: what may be stored in clear (each
    field blanked) and what must be encrypted (the whole value of every field that holds a secret)."""
    clear: dict[str, Any] = {}
    secret: dict[str, Any] = {}
    for name, kind in fields.items():
        if name not in values:
            continue
        value = values[name]
        clear[name], blanks = blanked(kind, value)
        if blanks:
            secret[name] = value
    return clear, secret
