"""A writer process SIGKILLed at random moments never loses a record whose append returned."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from safetymon.evidence.verify import verify_store
from tests.conftest import REPO
from tests.evidence.helpers import PEOPLE_IMAGE

_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from safetymon.evidence.snapshots import write_snapshots
    from safetymon.evidence.store import EvidenceStore
    db = Path(sys.argv[1])
    jpeg = Path(sys.argv[2]).read_bytes()
    store = EvidenceStore.open(db)
    print("READY", flush=True)
    n = 0
    while True:
        n += 1
        payload = {"n": n, "pid": 0, "d_m": n * 0.001}
        if n % 4 == 0:  # some records carry a snapshot written just before them
            refs = write_snapshots({"cam1": jpeg}, snapshot_dir=db.parent / "snaps",
                                   db_dir=db.parent, stem=f"{sys.argv[3]}-{n}")
            payload["snapshots"] = [r.model_dump() for r in refs]
            done = store.append("episode", payload)
        else:
            done = store.append("test", payload)
        print("OK", done.seq, done.hash, flush=True)
    """
)


@pytest.mark.slow
def test_random_sigkills_lose_no_returned_append_and_keep_the_chain(tmp_path: Path) -> None:
    db = tmp_path / "ev.db"
    rng = random.Random(20260501)
    returned: dict[int, str] = {}
    kills = 20
    for round_number in range(kills):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(db), str(PEOPLE_IMAGE), str(round_number)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        )  # fmt: skip
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        assert ready.strip() == "READY", proc.stderr.read() if proc.stderr else ready
        time.sleep(rng.uniform(0.0, 0.15))  # kill at a random point of the append loop
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "OK":  # a line cut by the kill is ignored
                returned[int(parts[1])] = parts[2]
        result = verify_store(db)
        assert result.ok, f"after kill {round_number}: {result.problem}"
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            stored = dict(conn.execute("SELECT seq, hash FROM records").fetchall())
        lost = {seq: h for seq, h in returned.items() if stored.get(seq) != h}
        assert not lost, f"after kill {round_number}: returned appends missing: {lost}"
    assert len(returned) > kills  # the writers did get records in between the kills
    assert verify_store(db).snapshots_checked >= 1
