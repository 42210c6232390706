"""`safetymon subscribe`, `publish`, `keys generate` as real processes."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from safetymon.cli.main import main
from safetymon.signals.client import SafetyClient
from safetymon.signals.frame import SafetyState
from safetymon.signals.keys import generate_keypair, load_keypair, load_public_key


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "safetymon", *args]


def start_publisher(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(cli("publish", *args), stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("publishing"), line
    endpoint = line.split(" on ")[1].split()[0]
    return proc, endpoint


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_publish_sends_stop_on_signal(tmp_path: Path, sig: signal.Signals) -> None:
    proc, endpoint = start_publisher(
        f"ipc://{tmp_path}/p.ipc", "--state", "run", "--connection-id", "9", "--rate", "20"
    )
    try:
        # watchdog 2 s: a STOP seen earlier can only come from the STOP frames sent on exit.
        with SafetyClient(endpoint, 9, watchdog_s=2.0, same_clock=True) as client:
            assert client.wait_for(SafetyState.RUN, 10.0)
            assert client.speed_scale == 1.0
            t0 = time.monotonic()
            proc.send_signal(sig)
            assert client.wait_for(SafetyState.STOP, 1.5)
            assert time.monotonic() - t0 < 1.5
            assert client.status.cause == "frame"
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0
        assert "sent STOP" in out
    finally:
        if proc.poll() is None:
            proc.kill()


def test_subscribe_json_reports_changes_and_stats(tmp_path: Path) -> None:
    proc, endpoint = start_publisher(
        f"ipc://{tmp_path}/s.ipc", "--state", "SLOW", "--speed-scale", "0.25", "--duration", "30"
    )
    try:
        out = subprocess.run(
            cli("subscribe", endpoint, "--json", "--duration", "1.5", "--same-clock"),
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in out.stdout.splitlines()]
    changes = [r for r in records if r["event"] == "change"]
    stats = [r for r in records if r["event"] == "stats"]
    assert changes[0]["state"] == "STOP" and changes[0]["cause"] == "startup"
    assert any(r["state"] == "SLOW" and r["speed_scale"] == 0.25 for r in changes)
    assert stats and stats[-1]["accepted"] > 10
    assert set(stats[-1]["errors"]) == {
        "corruption", "unintended_repetition", "incorrect_sequence", "loss",
        "unacceptable_delay", "insertion", "masquerade", "addressing",
    }  # fmt: skip
    assert 20 <= stats[-1]["rate_hz"] <= 80


def test_subscribe_text_output_shows_watchdog_stop(tmp_path: Path) -> None:
    out = subprocess.run(
        cli("subscribe", f"ipc://{tmp_path}/nobody.ipc", "--duration", "0.3"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    assert "STOP" in out.stdout and "startup" in out.stdout
    assert "stats:" in out.stdout


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (
            ["publish", "tcp://127.0.0.1:0", "--state", "STOP", "--speed-scale", "0.5"],
            "--speed-scale",
        ),
        (
            ["publish", "tcp://127.0.0.1:0", "--state", "RUN", "--speed-scale", "nan"],
            "--speed-scale",
        ),
        (["publish", "tcp://127.0.0.1:0", "--state", "RUN", "--rate", "0"], "--rate"),
        (["publish", "tcp://127.0.0.1:0", "--state", "RUN", "--rate", "5000"], "--rate"),
        (["publish", "tcp://127.0.0.1:0", "--state", "RUN", "--duration", "-1"], "--duration"),
        (["publish", "udp://x", "--state", "RUN"], "ENDPOINT"),
        (
            ["publish", "tcp://127.0.0.1:0", "--state", "RUN", "--connection-id", "-1"],
            "--connection-id",
        ),
        (["subscribe", "tcp://127.0.0.1:1", "--watchdog-ms", "0"], "--watchdog-ms"),
        (["subscribe", "nonsense", "--duration", "1"], "ENDPOINT"),
        (
            ["subscribe", "tcp://127.0.0.1:1", "--curve-server-key", "/nonexistent.key"],
            "/nonexistent.key",
        ),
        (["subscribe"], "give ENDPOINT or --dds"),
        (["subscribe", "tcp://127.0.0.1:1", "--dds"], "not both"),
        (["subscribe", "--dds", "233"], "--dds DOMAIN must be 0..232, got 233"),
        (["subscribe", "--dds", "--dds-topic", "a b"], "--dds-topic"),
        (["subscribe", "--dds", "--curve-server-key", "x.key"], "--curve-server-key"),
        (["publish", "--state", "RUN"], "give ENDPOINT or --dds"),
        (["publish", "--dds", "-1", "--state", "RUN"], "--dds DOMAIN"),
        (["publish", "--dds", "--state", "RUN", "--curve-secret-key", "k"], "--curve-secret-key"),
    ],
)
def test_invalid_input_exits_2_naming_option(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err


def test_argparse_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["publish", "tcp://127.0.0.1:0", "--state", "FAST"])
    assert exc.value.code == 2
    assert "--state" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["publish", "tcp://127.0.0.1:0", "--state", "RUN", "--rate", "x"])
    assert exc.value.code == 2


def test_keys_generate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "generate", "--out", str(tmp_path / "k"), "--name", "cell1"]) == 0
    assert (tmp_path / "k" / "cell1.key").is_file()
    assert (tmp_path / "k" / "cell1.key_secret").is_file()
    assert "cell1.key_secret" in capsys.readouterr().out
    assert main(["keys", "generate", "--out", str(tmp_path), "--name", "../x"]) == 2
    assert "--name" in capsys.readouterr().err


def test_publish_with_curve_keys(tmp_path: Path) -> None:
    assert main(["keys", "generate", "--out", str(tmp_path), "--name", "m"]) == 0
    proc, endpoint = start_publisher(
        "tcp://127.0.0.1:0", "--state", "RUN", "--curve-secret-key", str(tmp_path / "m.key_secret")
    )
    try:
        out = subprocess.run(
            cli("subscribe", endpoint, "--json", "--duration", "1", "--curve-server-key",
                str(tmp_path / "m.key")),
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(10)
    assert '"state": "RUN"' in out.stdout, out.stdout + out.stderr


def test_keys_generate_never_overwrites_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 15, finding 11: a second generate silently replaced the pair."""
    out = tmp_path / "keys"
    assert main(["keys", "generate", "--out", str(out), "--name", "cell"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(["keys", "generate", "--out", str(out), "--name", "cell"]) == 2
    err = capsys.readouterr().err
    assert "cell.key" in err and "--force" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert main(["keys", "generate", "--out", str(out), "--name", "cell", "--force"]) == 0
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(after) == {"cell.key", "cell.key_secret"}  # no temporary file left
    assert after["cell.key_secret"] != before["cell.key_secret"]
    # the new pair is a valid zmq.auth certificate pair
    public, secret = load_keypair(out / "cell.key_secret")
    assert load_public_key(out / "cell.key") == public and len(secret) == 40


def test_the_secret_key_is_owner_only_from_its_first_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15, finding 11: the secret was written under the umask, then restricted (another
    user read it in that window). Now it reaches its name by a rename of a file that was
    0600, with every byte written, before the rename."""
    placed: dict[str, tuple[int, bytes]] = {}
    real_replace = os.replace

    def recording_replace(src: str, dst: str) -> None:
        placed[Path(dst).name] = (stat.S_IMODE(os.stat(src).st_mode), Path(src).read_bytes())
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", recording_replace)
    previous = os.umask(0)  # the most permissive umask: open() would create files 0666
    try:
        public, secret = generate_keypair(tmp_path, "cell")
    finally:
        os.umask(previous)
    assert placed["cell.key_secret"] == (0o600, secret.read_bytes())
    assert placed["cell.key"] == (0o644, public.read_bytes())
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
