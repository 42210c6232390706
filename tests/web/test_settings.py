"""Live view settings: loopback rules, monitor.http config, --http parsing, token files."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from pydantic import ValidationError

from safetymon.config.http import HttpConfig, is_loopback_host
from safetymon.web.cli import add_http_argument, parse_http, resolve_http
from safetymon.web.security import (
    RemoteBindError,
    check_bind_host,
    check_token,
    host_of,
    read_token_file,
)

TOKEN = "s3cret-token-of-24-chars"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("example.org", False),
        ("localhost.evil.example", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_remote_bind_is_refused_unless_allowed() -> None:
    with pytest.raises(RemoteBindError, match=r"'0\.0\.0\.0' is not a loopback address"):
        check_bind_host("0.0.0.0", allow_remote=False)
    check_bind_host("0.0.0.0", allow_remote=True)
    check_bind_host("127.0.0.1", allow_remote=False)


def test_http_config_defaults_and_remote_rule() -> None:
    config = HttpConfig()
    assert (config.enabled, config.host, config.port, config.allow_remote) == (
        False, "127.0.0.1", 8080, False,
    )  # fmt: skip
    with pytest.raises(ValidationError, match="not a loopback address"):
        HttpConfig(host="0.0.0.0")
    assert HttpConfig(host="0.0.0.0", allow_remote=True).host == "0.0.0.0"
    with pytest.raises(ValidationError, match="port"):
        HttpConfig(port=70000)
    with pytest.raises(ValidationError, match="extra"):
        HttpConfig(tokenfile="x")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("localhost:0", ("localhost", 0)),
        ("[::1]:9000", ("::1", 9000)),
        ("8081", ("127.0.0.1", 8081)),
    ],
)
def test_parse_http(text: str, expected: tuple[str, int]) -> None:
    assert parse_http(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "127.0.0.1", "host:port", ":80", "[::1]", "1.2.3.4:70000", "²", "127.0.0.1:8²"],
)
def test_parse_http_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="--http: expected HOST:PORT"):
        parse_http(text)


def test_token_file_rules(tmp_path: Path) -> None:
    good = tmp_path / "token"
    good.write_text(f"  {TOKEN}\n")
    assert read_token_file(good) == TOKEN
    short = tmp_path / "short"
    short.write_text("abc\n")
    with pytest.raises(ValueError, match=r"short: the token has 3 characters, at least 16"):
        read_token_file(short)
    spaced = tmp_path / "spaced"
    spaced.write_text("two words of a long token\n")
    with pytest.raises(ValueError, match="must be one word"):
        read_token_file(spaced)
    with pytest.raises(ValueError, match="missing: cannot read it"):
        read_token_file(tmp_path / "missing")
    with pytest.raises(ValueError, match="at least 16"):
        check_token("short")


def test_host_header_parsing() -> None:
    assert host_of("127.0.0.1:8080") == "127.0.0.1"
    assert host_of("[::1]:8080") == "::1"
    assert host_of("LocalHost") == "localhost"
    assert host_of("evil.example:80") == "evil.example"


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_http_argument(parser)
    return parser.parse_args(argv)


def test_resolve_http_from_cli_and_site(tmp_path: Path) -> None:
    (tmp_path / "live.token").write_text(TOKEN)
    assert resolve_http(_args([]), HttpConfig(), tmp_path) is None
    settings = resolve_http(_args(["--http", "127.0.0.1:0"]), None, tmp_path)
    assert settings is not None and (settings.host, settings.port, settings.token) == (
        "127.0.0.1", 0, None,
    )  # fmt: skip
    site = HttpConfig(enabled=True, port=8099, token_file=Path("live.token"))
    settings = resolve_http(_args([]), site, tmp_path)  # token file against the site folder
    assert settings is not None and (settings.port, settings.token) == (8099, TOKEN)
    with pytest.raises(RemoteBindError):
        resolve_http(_args(["--http", "0.0.0.0:8080"]), None, tmp_path)
    remote = resolve_http(_args(["--http", "0.0.0.0:8080", "--http-allow-remote"]), None, tmp_path)
    assert remote is not None and remote.allow_remote
    with pytest.raises(ValueError, match="nope: cannot read it"):
        resolve_http(_args(["--http", "8080", "--http-token-file", str(tmp_path / "nope")]),
                     None, tmp_path)  # fmt: skip
