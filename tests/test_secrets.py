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
    RedactingWriter,
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


def test_dotted_keys_name_their_last_part_in_the_context_of_the_path():
    grid = {"agents.0.backend_options.extra_body.key": ["dotted-body-key"],
            "agents.0.backend_options.base_url": ["http://u:dotted-pw@h/v1"],
            "agents.0.backend_options.concurrency": [2, 4],
            "world.kwargs.key": ["not-a-secret-outside-bodies"],
            "agents.0.backend_options.extra_headers": [{"Authorization": "dotted-header"}]}
    assert secrets_in_config({"grid": grid}, {}) == ["dotted-body-key", "dotted-pw", "dotted-header"]
    assert redact_config({"grid": grid})["grid"] == {
        "agents.0.backend_options.extra_body.key": [REDACTED],
        "agents.0.backend_options.base_url": ["http://h/v1"],
        "agents.0.backend_options.concurrency": [2, 4],
        "world.kwargs.key": ["not-a-secret-outside-bodies"],
        "agents.0.backend_options.extra_headers": [{"Authorization": REDACTED}]}
    # a --set path under a credential field is secret whatever its last part says
    assert secrets_in_config({"agents.1.backend_options.api_key.value": "under-a-key"}, {}) == ["under-a-key"]


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


def test_a_redacting_writer_finds_a_secret_written_in_pieces():
    register_secrets(["printed-secret-value"])
    target = io.StringIO()
    writer = RedactingWriter(target)
    writer.write("LiteLLM: calling with printed-")
    writer.write("secret-value and Bearer abc")
    assert target.getvalue() == ""  # held until the line ends
    writer.write("def\n50% done\r")
    assert target.getvalue() == "LiteLLM: calling with *** and Bearer ***\n50% done\r"
    print("no newline printed-secret-value", end="", file=writer)
    writer.flush()
    assert target.getvalue().endswith("\rno newline ***")


def test_stream_redaction_covers_print_in_a_fresh_process():
    code = ("from dilemmazoo.agents.backends.redaction import install_stream_redaction, register_secrets\n"
            "import sys, traceback\n"
            "register_secrets(['process-secret-value'])\n"
            "install_stream_redaction(); install_stream_redaction()\n"
            "print('stdout has process-secret-value')\n"
            "raise RuntimeError('stderr has process-secret-value')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stdout == "stdout has ***\n"
    assert done.stderr.endswith("RuntimeError: stderr has ***\n") and "process-secret-value" not in done.stderr


# -- the acceptance test: a whole grid through the CLI ---------------------------------------

PLACEMENTS = (
    "HeaderAuthorization",  # extra_headers Authorization: Bearer ...
    "HeaderApiKey",         # extra_headers api-key
    "HeaderToken",          # extra_headers x-token
    "BodyKey",              # extra_body key
    "BodyToken",            # extra_body token
    "BodySecret",           # extra_body secret
    "UrlPassword",          # base_url user:PASSWORD@
    "EnvKey",               # the variable api_key_env names (openai backend)
    "LiteEnvKey",           # the variable api_key_env names (litellm backend)
    "ProviderEnvKey",       # OPENAI_API_KEY, read by LiteLLM itself
    "SetToken",             # a --set override of a header
    "ApiKeyField",          # backend_options.api_key (refused by validation)
    "GridA", "GridB",       # the values of a grid axis over a secret field
)
CANARIES = {place: f"Canary{place}{secrets.token_hex(6)}" for place in PLACEMENTS}


def _groups(server_url: str, echoing: str | None) -> list[dict]:
    """Three agent groups on the fake server; the one named ``echoing`` asks it to fail."""
    c = CANARIES
    host = server_url.split("//", 1)[1]
    return [
        {"kind": "llm", "seats": 1, "label": "oai", "backend": "openai:fake", "decision": "generate", "max_retries": 1,
         "backend_options": {
             "base_url": f"http://user:{c['UrlPassword']}@{host}", "api_key_env": "DZ_CANARY_KEY",
             "backoff_s": 0.001, "max_retries": 1,
             "extra_headers": {"Authorization": f"Bearer {c['HeaderAuthorization']}", "api-key": c["HeaderApiKey"],
                               "x-token": c["HeaderToken"]},
             "extra_body": {"key": c["BodyKey"], "token": c["BodyToken"], "secret": c["BodySecret"],
                            "fail": echoing == "oai"}}},
        {"kind": "llm", "seats": 1, "label": "lite", "backend": "litellm:openai/fake", "decision": "generate",
         "max_retries": 1,
         "backend_options": {"api_base": server_url, "api_key_env": "DZ_LITE_KEY", "backoff_s": 0.001,
                             "max_retries": 1, "extra_body": {"fail": echoing == "lite"}}},
        {"kind": "llm", "label": "lite2", "backend": "litellm:openai/fake", "decision": "generate", "max_retries": 1,
         "backend_options": {"api_base": server_url, "backoff_s": 0.001,
                             "max_retries": 1, "extra_body": {"fail": echoing == "lite2"}}},
    ]


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dilemmazoo.experiments.cli", *args], env=env, capture_output=True,
                          text=True, cwd=REPO, timeout=300)


def _choose(body):
    """Requests that carry ``fail: true`` get the echoing error (their headers and body quoted)."""
    return "echo" if isinstance(body, dict) and body.get("fail") else None


def _parquet_text(path: Path) -> str:
    import pandas as pd

    return pd.read_parquet(path).to_csv()


@pytest.fixture(scope="module")
def leftovers(tmp_path_factory) -> dict[str, bytes]:
    """Everything a user could see after the grid, by where it is: every file under the output
    folder (bytes, and parquet decoded), every path, stdout and stderr of each command, the catalog
    saved as a duckdb file and its query output, the report."""
    root = tmp_path_factory.mktemp("canary")
    out = root / "runs"
    env = {**os.environ, "DZ_CANARY_KEY": CANARIES["EnvKey"], "DZ_LITE_KEY": CANARIES["LiteEnvKey"],
           "OPENAI_API_KEY": CANARIES["ProviderEnvKey"], "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "TOKENIZERS_PARALLELISM": "false"}
    seen: dict[str, bytes] = {}
    answer = f"I will not repeat {CANARIES['EnvKey']}. Answer: 2"  # a model that repeats a key it was sent
    with FakeOpenAIServer(answer=answer, choose=_choose, lifetime_s=240.0) as server:
        grid = {
            "name": "canary",
            "world": {"id": "donor-game", "kwargs": {"n_agents": 4, "n_rounds": 2}},
            "agents": _groups(server.url, None),
            "grid": {"agents": {echoing or "calm": _groups(server.url, echoing)
                                for echoing in (None, "oai", "lite", "lite2")}},
            "seeds": [0],
            "cache": False,
        }
        (root / "grid.yaml").write_text(yaml.safe_dump(grid))
        axis = {"name": "axis", "world": grid["world"], "agents": _groups(server.url, None), "seeds": [0],
                "cache": False, "grid": {"agents.0.backend_options.extra_body.secret": [CANARIES["GridA"],
                                                                                          CANARIES["GridB"]]}}
        (root / "axis.yaml").write_text(yaml.safe_dump(axis))
        refused = {**axis, "grid": {}, "agents": [{**g, "backend_options": {**g["backend_options"]}}
                                                   for g in _groups(server.url, None)]}
        refused["agents"][0]["backend_options"]["api_key"] = CANARIES["ApiKeyField"]
        (root / "refused.yaml").write_text(yaml.safe_dump(refused))
        commands = {
            "run grid": ["run", str(root / "grid.yaml"), "--out", str(out), "--report", "--quiet"],
            "check axis": ["run", str(root / "axis.yaml"), "--out", str(out), "--check",
                           "--set", f"agents.1.backend_options.extra_headers.x-token={CANARIES['SetToken']}"],
            "run axis": ["run", str(root / "axis.yaml"), "--out", str(out),
                         "--set", f"agents.1.backend_options.extra_headers.x-token={CANARIES['SetToken']}"],
            "run refused": ["run", str(root / "refused.yaml"), "--out", str(root / "refused")],
            "report": ["report", str(out / "canary")],
        }
        results = {}
        for label, args in commands.items():
            results[label] = done = _cli(*args, env=env)
            seen[f"{label}: stdout"] = done.stdout.encode()
            seen[f"{label}: stderr"] = done.stderr.encode()
        seen["server: requests"] = repr(server.completions).encode()  # not a leak: proves the canaries travelled
    seen["results"] = results  # type: ignore[assignment]
    for path in sorted(out.rglob("*")):
        relative = str(path.relative_to(root))
        seen[f"path {relative}"] = relative.encode()
        if path.is_file():
            seen[f"file {relative}"] = path.read_bytes()
            if path.suffix == ".parquet":
                seen[f"table {relative}"] = _parquet_text(path).encode()
    from dilemmazoo.analysis.catalog import TABLES, catalog

    con = catalog(out)
    database = root / "catalog.duckdb"
    con.execute(f"attach '{database}' as saved")
    for view in ("runs", *TABLES):
        if con.execute(f"select count(*) from information_schema.tables where table_name = '{view}'").fetchone()[0]:
            con.execute(f"create table saved.{view} as select * from {view}")
            seen[f"catalog query {view}"] = con.execute(f"select * from {view}").df().to_csv().encode()
    con.execute("detach saved")
    con.close()
    seen["catalog file"] = database.read_bytes()
    return seen


def test_the_grid_ran_with_every_canary_on_the_wire_and_failures(leftovers):
    """The search below means something: the canaries reached the server, some runs failed with
    the server's echo (failure.json written), one finished, and the report was written."""
    results = leftovers["results"]
    grid = results["run grid"]
    assert grid.returncode == 1 and "3 of 4 runs failed (1 finished and kept)" in grid.stderr
    failures = [name for name in leftovers if name.startswith("file ") and name.endswith("failure.json")]
    finished = [name for name in leftovers if name.startswith("file ") and name.endswith("summary.json")]
    assert len(failures) == 3 and len(finished) >= 1
    assert all(b"upstream rejected the request" in leftovers[name] for name in failures)
    assert results["report"].returncode == 0 and any(name.endswith("report.html") for name in leftovers)
    assert results["run refused"].returncode == 2 and "backend_options" in results["run refused"].stderr
    assert "api_key" in results["run refused"].stderr and not any(
        name.startswith("path refused") for name in leftovers)
    sent = leftovers["server: requests"].decode()
    for place in ("HeaderApiKey", "HeaderToken", "BodyKey", "BodyToken", "BodySecret", "SetToken", "GridA", "GridB"):
        assert CANARIES[place] in sent, place


@pytest.mark.parametrize("place", PLACEMENTS)
def test_the_canary_is_nowhere(leftovers, place):
    canary = CANARIES[place].encode()
    found = [where for where, data in leftovers.items()
             if where not in ("results", "server: requests") and canary in data]
    assert not found, f"{place} found in: " + "; ".join(found)
