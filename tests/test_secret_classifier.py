"""The secret classifier on its own: what is a secret in each kind of value, and its four renderings
(masked, blanked, sealed, scrubbed) plus the restoring of masked values sent back."""

from __future__ import annotations

import pytest

from maghub.security.classifier import (
    Kind,
    blanked,
    masked,
    masked_leftovers,
    restored,
    sealed,
    secret_texts,
)
from maghub.security.redaction import Redactor

URL = "https://alice:pa55word-9Xk2@mcp.example.com:8443/v1/mcp?region=eu&api_key=key-7Hq2Lx9Pz4Wc#top"


def test_a_url_s_user_info_and_credential_query_values_are_its_secrets() -> None:
    assert secret_texts(Kind.URL, URL) == ["alice", "pa55word-9Xk2", "key-7Hq2Lx9Pz4Wc"]
    assert masked(Kind.URL, URL) == "https://…:pa5…9Xk2@mcp.example.com:8443/v1/mcp?region=eu&api_key=key…z4Wc#top"
    assert blanked(Kind.URL, URL) == (
        "https://mcp.example.com:8443/v1/mcp?region=eu&api_key=#top",
        [" credentials", " query api_key"],
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com/v1",
        "http://127.0.0.1:8000/mcp?region=eu&page=2",
        "http://[::1]:8000/sse",
        "http://[::1/broken",
    ],
)
def test_urls_without_credentials_have_no_secret(url: str) -> None:
    assert secret_texts(Kind.URL, url) == []
    assert masked(Kind.URL, url) == url and blanked(Kind.URL, url) == (url, [])


def test_a_token_like_query_value_is_a_secret_whatever_its_name() -> None:
    url = "https://x.test/mcp?id=Zx81kQp0vLr7Tn3mWb5yHc"
    assert secret_texts(Kind.URL, url) == ["Zx81kQp0vLr7Tn3mWb5yHc"]


ARGS = [
    "-y",
    "server-pkg",
    "--token",
    "tok-1234567890abcdef",
    "--api-key=sk-proj-Abc123Def456Ghi789",
    "--db=postgresql://admin:hunter2-dsn@db/prod",
    "--header",
    "Authorization: Bearer abc123def456ghi",
    "--port",
    "8080",
]


def test_credential_like_arguments_are_secrets_and_nothing_else() -> None:
    assert secret_texts(Kind.ARGS, ARGS) == [
        "tok-1234567890abcdef",
        "sk-proj-Abc123Def456Ghi789",
        "admin",
        "hunter2-dsn",
        "abc123def456ghi",
    ]
    shown = masked(Kind.ARGS, ARGS)
    assert shown == [
        "-y",
        "server-pkg",
        "--token",
        "tok…cdef",
        "--api-key=sk-…i789",
        "--db=postgresql://…:…@db/prod",
        "--header",
        "Authorization: Bearer abc…6ghi",
        "--port",
        "8080",
    ]
    export, blanks = blanked(Kind.ARGS, ARGS)
    assert export[3:6] == ["", "--api-key=", "--db=postgresql://db/prod"] and export[7] == "Authorization: Bearer "
    assert blanks == ["[3]", "[4]", "[5] credentials", "[7]"]


def test_env_headers_and_extra_headers() -> None:
    env = {"API_KEY": "abc", "CACHE_URL": "redis://:hunter2-dsn@cache:6379/0", "LOG_LEVEL": "debug"}
    assert masked(Kind.ENV, env) == {"API_KEY": "…", "CACHE_URL": "redis://:…@cache:6379/0", "LOG_LEVEL": "debug"}
    headers = {"Authorization": "Bearer x", "Accept": "application/json"}
    assert masked(Kind.HEADERS, headers) == {"Authorization": "…", "Accept": "application/json"}
    assert masked(Kind.EVERY_VALUE, {"X-Team": "t-1"}) == {"X-Team": "…"}
    assert blanked(Kind.EVERY_VALUE, {"X-Team": "t-1"}) == ({"X-Team": ""}, [".X-Team"])


def test_sealed_keeps_the_clear_remainder_and_the_whole_secret_values() -> None:
    clear, secret = sealed({"args": ARGS[:2], "url": URL}, {"args": Kind.ARGS, "url": Kind.URL})
    assert clear == {"args": ARGS[:2], "url": blanked(Kind.URL, URL)[0]}
    assert secret == {"url": URL}  # args without a secret stay in clear only


@pytest.mark.parametrize("kind", list(Kind))
def test_what_was_shown_sent_back_is_the_stored_value(kind: Kind) -> None:
    value = {
        Kind.WHOLE: "sk-0123456789abcdef",
        Kind.URL: URL,
        Kind.ARGS: ARGS,
        Kind.ENV: {"API_KEY": "abc", "CACHE_URL": "redis://:hunter2-dsn@cache/0"},
        Kind.HEADERS: {"Authorization": "Bearer 0123456789"},
        Kind.EVERY_VALUE: {"X-Team": "t-1"},
    }[kind]
    assert restored(kind, masked(kind, value), value) == value


def test_edited_values_keep_their_masked_secrets_and_take_new_ones() -> None:
    edited_url = masked(Kind.URL, URL).replace("/v1/", "/v2/")
    assert restored(Kind.URL, edited_url, URL) == URL.replace("/v1/", "/v2/")
    new_password = masked(Kind.URL, URL).replace("pa5…9Xk2", "new-password")
    assert restored(Kind.URL, new_password, URL) == URL.replace("pa55word-9Xk2", "new-password")
    # An argument put in front: every masked one still finds its stored secret.
    shifted = ["--verbose", *masked(Kind.ARGS, ARGS)]
    assert restored(Kind.ARGS, shifted, ARGS) == ["--verbose", *ARGS]
    assert restored(Kind.ARGS, ["--token", "new-token-value"], ARGS[2:4]) == ["--token", "new-token-value"]


def test_masks_that_nothing_replaced_are_reported() -> None:
    assert masked_leftovers(Kind.ARGS, ["--token", "…", "--api-key=sk-…abcd"]) == ["[1]", "[2]"]
    assert masked_leftovers(Kind.URL, "https://…:…@x.test/mcp?token=…") == [""]
    assert masked_leftovers(Kind.WHOLE, "sk-…abcd") == [""]
    assert masked_leftovers(Kind.ARGS, ARGS) == [] and masked_leftovers(Kind.URL, URL) == []


def test_the_redactor_scrubs_secrets_and_their_url_encodings_but_not_short_words() -> None:
    redact = Redactor(["p@ss/word-123", "admin", "tok-1234567890abcdef"])
    text = "GET https://admin:p%40ss%2Fword-123@host failed; token tok-1234567890abcdef; p@ss/word-123"
    scrubbed = redact(text)
    assert "p%40ss%2Fword-123" not in scrubbed and "p@ss/word-123" not in scrubbed
    assert "tok-1234567890abcdef" not in scrubbed and "tok…cdef" in scrubbed
    assert "admin" in scrubbed  # too short to be told from an ordinary word
    assert Redactor()("nothing known") == "nothing known"
