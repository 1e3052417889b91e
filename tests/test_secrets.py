"""No secret anywhere: the redaction rules case by case, then a whole grid through the CLI with a
canary value in every place a secret can sit, searched for in every byte the run leaves behind.

The canaries are not shaped like keys (no ``sk-`` prefix), so they are found only because the
config, the environment or a backend named them as secrets, never by a lucky pattern.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dilemmazoo.agents.backends import redaction
from dilemmazoo.agents.backends.redaction import (
    REDACTED,
    Secret,
    install_log_redaction,
    is_secret_name,
    redact_config,
    redact_secrets,
    redact_text,
    redact_url,
    register_secrets,
    registered_secrets,
    secrets_in_config,
    secrets_in_environment,
)

sys.path.insert(0, str(Path(__file__).parent))
from fake_openai_server import FakeOpenAIServer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def fresh_registry():
    """Each case starts with no registered secret (the registry is process-wide)."""
    before = registered_secrets()
    redaction._forget_registered()
    yield
    redaction._forget_registered()
    register_secrets(before)


# -- names ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["api_key", "apiKey", "API-KEY", "x-api-key", "api-key", "Authorization", "hf_token",
                                  "access_token", "password", "db_passwd", "client_secret", "secret_key",
                                  "OPENAI_API_KEY", "Cookie", "auth"])
def test_credential_names(name):
    assert is_secret_name(name) and is_secret_name(name, container=True)


@pytest.mark.parametrize("name", ["api_key_env", "OPENAI_KEY_ENV", "max_tokens", "tokens_per_minute", "stop_token",
                                  "eos_token", "base_url", "model", "guided_regex", "concurrency", "monkey"])
def test_names_that_are_not_credentials(name):
    assert not is_secret_name(name) and not is_secret_name(name, container=True)


def test_a_plain_key_is_a_credential_only_inside_headers_and_bodies():
    assert not is_secret_name("key") and is_secret_name("key", container=True)
    assert not is_secret_name("signature") and is_secret_name("signature", container=True)


# -- configs --------------------------------------------------------------------------------

CONFIG = {
    "name": "keys",
    "world": {"id": "donor-game", "kwargs": {"n_agents": 4}},
    "agents": [
        {"backend": "openai:m", "max_tokens": 50,
         "backend_options": {
             "base_url": "http://alice:pw-in-url@127.0.0.1:8000/v1?api_key=query-key&x=1",
             "api_key_env": "DZ_KEY",
             "api_key": "field-key",
             "extra_headers": {"Authorization": "Bearer header-bearer", "X-Trace": "trace-1", "api-key": "header-apikey"},
             "extra_body": {"key": "body-key", "guided_regex": "Answer: [CD]", "stop_token": "</s>", "n": 3},
         }},
        {"backend": "litellm:m", "backend_options": {"api_base": "https://TOKEN-as-user@host.example/v1"}},
    ],
    "grid": {"agents.0.backend_options.extra_body.secret": {"a": "grid-secret-a", "b": "grid-secret-b"}},
}


def test_secrets_in_config_lists_every_placement_in_order():
    environ = {"DZ_KEY": "value-of-dz-key", "UNNAMED_KEY": "not-referenced"}
    assert secrets_in_config(CONFIG, environ) == [
        "pw-in-url", "query-key", "value-of-dz-key", "field-key", "Bearer header-bearer", "header-bearer",
        "header-apikey", "body-key", "TOKEN-as-user", "grid-secret-a", "grid-secret-b",
    ]


def test_secrets_in_config_skips_short_values_placeholders_and_missing_variables():
    data = {"api_key": "abc", "token": "EMPTY", "password": None, "key_env": "NOT_SET", "b": {"secret": ""}}
    assert secrets_in_config(data, {}) == []


def test_redact_config_blanks_values_keeps_variable_names_and_drops_userinfo(monkeypatch):
    monkeypatch.setenv("DZ_KEY", "value-of-dz-key")
    redacted = redact_config(CONFIG)
    options = redacted["agents"][0]["backend_options"]
    assert options == {
        "base_url": "http://127.0.0.1:8000/v1?api_key=***&x=1",
        "api_key_env": "DZ_KEY",
        "api_key": REDACTED,
        "extra_headers": {"Authorization": REDACTED, "X-Trace": "trace-1", "api-key": REDACTED},
        "extra_body": {"key": REDACTED, "guided_regex": "Answer: [CD]", "stop_token": "</s>", "n": 3},
    }
    assert redacted["agents"][1]["backend_options"] == {"api_base": "https://host.example/v1"}
    assert redacted["grid"] == {"agents.0.backend_options.extra_body.secret": {"a": REDACTED, "b": REDACTED}}
    assert redacted["agents"][0]["max_tokens"] == 50 and redacted["world"] == CONFIG["world"]
    assert CONFIG["agents"][0]["backend_options"]["api_key"] == "field-key"  # a copy; the input is untouched
    # what it found is registered: any later text loses it, the environment's value included
    assert redact_text("denied: value-of-dz-key / body-key / pw-in-url") == "denied: *** / *** / ***"


def test_redact_url():
    assert redact_url("https://bob:hunter22@api.example.com:8443/v1?api_key=abcd1234&x=1#top") == \
        "https://api.example.com:8443/v1?api_key=***&x=1#top"
    assert redact_url("http://[::1]:8000/v1") == "http://[::1]:8000/v1"
    assert redact_url("not a url") == "not a url"


# -- text -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("key sk-abcdefghijklmnop leaked", "key sk-*** leaked"),
    ("Authorization: Bearer tok_123456789", "Authorization: Bearer ***"),
    ('{"api_key": "hunter2hunter2"}', '{"api_key": "***"}'),
    ("{'Authorization': 'raw-credential', 'x-api-key': 'k9k9k9k9'}", "{'Authorization': '***', 'x-api-key': '***'}"),
    ("POST https://bob:hunter22@api.example.com/v1 failed", "POST https://api.example.com/v1 failed"),
    ("url http://u@h/ and token=abcd; password: pw1234", "url http://h/ and token=***; password: ***"),
    ("hf_abcdefghijkl and ghp_abcdefghijkl", "hf_*** and ghp_***"),
    ("model EMPTY and sk-short", "model EMPTY and sk-short"),
])
def test_redact_text_removes_key_shaped_text(text, expected):
    assert redact_text(text) == expected


def test_registered_and_given_secrets_are_removed_longest_first():
    register_secrets(["plain-secret", "abc", None, "EMPTY"])  # the short one and the placeholders are ignored
    assert registered_secrets() == frozenset({"plain-secret"})
    assert redact_text("a plain-secret-suffix, abc, EMPTY", ["plain-secret-suffix"]) == "a ***, abc, EMPTY"
    assert redact_secrets("Answer: C sk-not-a-registered-key plain-secret") == "Answer: C sk-not-a-registered-key ***"


def test_secrets_in_environment_are_the_credential_named_variables():
    environ = {"OPENAI_API_KEY": "env-openai", "HF_TOKEN": "env-hf", "AWS_SECRET_ACCESS_KEY": "env-aws",
               "GOOGLE_APPLICATION_CREDENTIALS_FILE": "/etc/creds.json", "SSH_AUTH_SOCK": "/tmp/agent.1",
               "TOKENIZERS_PARALLELISM": "false", "PATH": "/usr/bin", "MY_PASSWORD": "ab"}
    assert secrets_in_environment(environ) == ["env-openai", "env-hf", "env-aws"]


def test_a_secret_never_shows_itself_and_is_not_pickled():
    secret = Secret("the-value")
    assert repr(secret) == str(secret) == "Secret('***')" and f"{secret}" == "Secret('***')"
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(secret)


def test_log_records_are_redacted_with_their_tracebacks():
    install_log_redaction()
    install_log_redaction()  # idempotent
    register_secrets(["log-secret-value"])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("dilemmazoo.test_secrets")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("sending %s with Bearer %s", "log-secret-value", "abc.def")
        try:
            raise RuntimeError("server said log-secret-value is wrong")
        except RuntimeError:
            logger.exception("request failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert text.startswith("sending *** with Bearer ***\nrequest failed\nTraceback")
    assert "RuntimeError: server said *** is wrong" in text and "log-secret-value" not in text
