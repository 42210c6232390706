"""The humanoid counter around a real `Monitor`: ``safetymon demo --scenario humanoid-counter``.

`HumanoidDemoParts.prepare` loads the demo site (``demo-humanoid-counter.yaml``: a generic
humanoid from its own URDF, state over ROS 2 on a loopback-only DDS domain), lays out the
counter and the script, and binds the socket the robot's true pose arrives on; `start`
launches the simulated humanoid as a process of its own (`safetymon.sim.humanoid_robot`),
which publishes its JointState and Odometry where the monitor's ``ros2`` input reads them and
obeys the monitor's ZeroMQ safety output through the real controller-side client.

The robot's own record (``humanoid-record.jsonl`` in the output folder) says what it was
permitted and how fast it really walked; `read_record` checks it: it must have slowed while
SLOW and stood still while STOP.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

from safetymon.config.loader import load_site_config
from safetymon.config.robots import Ros2StateInputConfig
from safetymon.config.site import SiteConfig
from safetymon.demo.cell import SiteCellProperties, with_evidence_in
from safetymon.sim.camera import SimCamera
from safetymon.sim.counter import CounterRenderer, CounterScene, HumanoidBody, counter_camera
from safetymon.sim.counter_live import CounterCellSource, TruthReceiver, wait_for_truth

log = logging.getLogger(__name__)

RECORD_FILE = "humanoid-record.jsonl"
"""The simulated humanoid's record, in the output folder."""
LOG_FILE = "humanoid-robot.log"
"""The simulated humanoid's standard output and error, in the output folder."""
START_TIMEOUT_S = 60.0
"""How long the robot's process may take to send its first pose (imports on a slow box)."""
STATE_RATE_HZ = 50.0
"""Joint states (and odometry) per second the simulated humanoid publishes."""
SETTLED_SCALE = 0.02
"""A speed scale within this of the permitted one counts as reached."""
OBEY_WITHIN_S = 1.0
"""A permitted state lasting longer than this (seconds) must have been obeyed by its end: the
humanoid brakes from walking speed in its stopping time (0.27 s in the demo site), and the
client's watchdog (0.2 s) and the record's line interval come on top."""


class ScenarioUnavailableError(RuntimeError):
    """The scenario cannot run on this machine (a missing optional package)."""


def demo_config(site_file: Path, out_dir: Path, ros2_domain: int | None) -> SiteConfig:
    """The site with the evidence in ``out_dir`` and, if given, the robot's DDS domain id.

    Raises:
        ConfigError: the site file is invalid.
        ValueError: its first robot does not read its state over ROS 2.
    """
    config = load_site_config(site_file)
    if not config.robots or not isinstance(config.robots[0].state_input, Ros2StateInputConfig):
        raise ValueError(f"{site_file}: the humanoid demo's robot must have a ros2 state_input")
    robot = config.robots[0]
    if ros2_domain is not None:
        state_input = robot.state_input.model_copy(update={"domain_id": ros2_domain})
        robot = robot.model_copy(update={"state_input": state_input})
    robots = [robot, *config.robots[1:]]
    return with_evidence_in(config.model_copy(update={"robots": robots}), out_dir)


@dataclass
class HumanoidDemoParts(SiteCellProperties):
    """The simulated humanoid counter of one run.

    Attributes:
        site_file: the demo site file.
        out_dir: the output folder (the robot's record and log go there).
        config: the site (evidence in ``out_dir``, the DDS domain of this run).
        scene: the counter, the patrol loop and the scripted people.
        camera: the rendered camera.
        renderer: renders the scene through ``camera``.
        body: the humanoid's capsules from its pose (its URDF).
        truth: receives the robot's true pose for the camera.
        process: the simulated humanoid's process, once started.
        exit_code: its exit status once stopped (None before).
    """

    site_file: Path
    out_dir: Path
    config: SiteConfig
    scene: CounterScene
    camera: SimCamera
    renderer: CounterRenderer
    body: HumanoidBody
    truth: TruthReceiver
    process: subprocess.Popen[bytes] | None = None
    exit_code: int | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def extra_files(self) -> tuple[Path, ...]:
        """Files the site names beside it (its URDF), copied with the run's site copy."""
        geometry = self.config.robots[0].geometry
        path = Path(getattr(geometry, "path", ""))
        return (self.site_file.parent / path,) if path.parts and not path.is_absolute() else ()

    @property
    def record_path(self) -> Path:
        """The simulated humanoid's record."""
        return self.out_dir / RECORD_FILE

    @classmethod
    def prepare(
        cls, site_file: Path, out_dir: Path, ros2_domain: int | None = None
    ) -> HumanoidDemoParts:
        """Load the site, lay out the scene and bind the robot's truth socket.

        Raises:
            ScenarioUnavailableError: the ``cyclonedds`` package cannot be imported.
            ConfigError: the site file is invalid.
            ValueError: the site lacks the zones or robot the scene needs.
            OSError: the truth socket cannot be bound.
        """
        from safetymon.robot.ros2_input import MISSING_PACKAGE, cyclonedds_available

        if not cyclonedds_available():
            raise ScenarioUnavailableError(
                f"the humanoid-counter demo publishes the humanoid's state over ROS 2: "
                f"{MISSING_PACKAGE}"
            )
        site_file = Path(site_file)
        config = demo_config(site_file, out_dir, ros2_domain)
        robot = config.robots[0]
        scene = CounterScene.from_site(config, robot.id)
        body = HumanoidBody(robot, site_file.parent)
        camera = counter_camera()
        renderer = CounterRenderer(scene, camera)
        truth = TruthReceiver().start()
        return cls(site_file, Path(out_dir), config, scene, camera, renderer, body, truth)

    def frame_source(self, fps: float) -> CounterCellSource:
        """The rendered camera of this counter (not started)."""
        return CounterCellSource(
            self.renderer, self.body, self.truth, fps=fps,
            max_frame_age_s=self.config.cameras[0].max_frame_age_s,
        )  # fmt: skip

    def start(self, safety_endpoint: str, run_s: float) -> None:
        """Launch the simulated humanoid and wait for its first pose.

        Args:
            safety_endpoint: the monitor's ZeroMQ safety output.
            run_s: how long the run lasts, seconds (the robot stops itself a minute after).

        Raises:
            OSError: the process cannot be started, exits, or sends no pose in time (its log
                is in the output folder).
        """
        robot = self.config.robots[0]
        state_input = robot.state_input
        assert isinstance(state_input, Ros2StateInputConfig)
        command = [
            sys.executable, "-m", "safetymon.sim.humanoid_robot",
            "--site", str(self.site_file), "--robot", robot.id,
            "--domain", str(state_input.domain_id),
            "--safety", safety_endpoint, "--connection-id", str(self.connection_id),
            "--truth", self.truth.endpoint, "--record", str(self.record_path),
            "--rate", f"{STATE_RATE_HZ:g}", "--duration", f"{run_s + START_TIMEOUT_S + 60.0:.0f}",
        ]  # fmt: skip
        self._log = open(self.out_dir / LOG_FILE, "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=self._log, stderr=subprocess.STDOUT
        )
        process = self.process
        if not wait_for_truth(self.truth, START_TIMEOUT_S, lambda: process.poll() is None):
            code = process.poll()
            self.stop()
            what = f"exited with status {code}" if code is not None else "sent no pose"
            tail = (self.out_dir / LOG_FILE).read_text(errors="replace")[-2000:]
            raise OSError(f"the simulated humanoid {what}: {tail.strip() or 'no output'}")

    def stop(self) -> None:
        """Stop the robot's process (end of its standard input, then SIGTERM, then SIGKILL)
        and close the truth socket; ``exit_code`` keeps the process's exit status."""
        process = self.process
        if process is not None:
            if process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.close()
            try:
                process.wait(10.0)
            except subprocess.TimeoutExpired:
                process.terminate()
                try:
                    process.wait(5.0)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5.0)
            self.exit_code = process.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        self.truth.close()

    def robot_report(self) -> HumanoidReport:
        """What the simulated humanoid recorded (see `read_record`); a process that did not
        exit with status 0 after `stop` is a problem too (it died or had to be killed)."""
        report = read_record(self.record_path)
        if self.exit_code not in (None, 0):
            what = f"the humanoid's process exited with status {self.exit_code}"
            return replace(report, problems=(*report.problems, what))
        return report


@dataclass(frozen=True)
class PermittedSpan:
    """One stretch of time the robot was permitted one state, from its record.

    Attributes:
        state: RUN, SLOW or STOP.
        start_s, end_s: monotonic seconds of the first and last record line.
        permitted_scale: the speed scale permitted at its last line.
        end_scale: the robot's speed scale at its last line.
        min_scale, max_scale: the robot's lowest and highest speed scale in it.
        end_base_speed_mps: the base's walking speed at its last line, m/s.
    """

    state: str
    start_s: float
    end_s: float
    permitted_scale: float
    end_scale: float
    min_scale: float
    max_scale: float
    end_base_speed_mps: float

    @property
    def obeyed(self) -> bool:
        """Whether the robot came down to (at most) what was permitted within the span."""
        return self.end_scale <= self.permitted_scale + SETTLED_SCALE

    def as_dict(self) -> dict[str, object]:
        """JSON form."""
        return {
            "state": self.state, "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3), "permitted_scale": self.permitted_scale,
            "end_scale": self.end_scale, "min_scale": self.min_scale,
            "max_scale": self.max_scale, "end_base_speed_mps": self.end_base_speed_mps,
        }  # fmt: skip


@dataclass(frozen=True)
class HumanoidReport:
    """The simulated humanoid's record, summarised.

    Attributes:
        spans: the stretches of one permitted state, in time order.
        walk_speed_mps: its walking speed at scale 1, m/s.
        problems: what shows it did not obey (empty: it walked at full speed on RUN, slowed
            on SLOW and stood still on STOP, at least once each).
    """

    spans: tuple[PermittedSpan, ...]
    walk_speed_mps: float
    problems: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        """JSON form."""
        return {
            "walk_speed_mps": self.walk_speed_mps,
            "spans": [span.as_dict() for span in self.spans],
            "problems": list(self.problems),
        }

    def summary(self) -> str:
        """One line for the demo's output."""
        def fastest(state: str) -> float:
            return max((s.max_scale for s in self.spans if s.state == state), default=math.nan)

        slowed = [s.end_scale for s in self.spans if s.state == "SLOW" and s.obeyed]
        stopped = sum(1 for s in self.spans if s.state == "STOP" and s.end_scale == 0.0)
        walk = self.walk_speed_mps
        slow = f"{min(slowed) * walk:.2f} m/s" if slowed else "never"
        return (
            f"walked up to {fastest('RUN') * walk:.2f} m/s on RUN, slowed to {slow} on SLOW, "
            f"stood still on STOP {stopped} time(s)"
        )


def read_record(path: Path) -> HumanoidReport:
    """Summarise the simulated humanoid's JSON-lines record.

    Problems: a permitted state other than the last that lasted more than ``OBEY_WITHIN_S``
    and ended with the robot faster than permitted; a record without its stop line (the
    process ended early); never walking at full speed on RUN, slowing on SLOW, or coming to a
    standstill from walking on STOP.

    Raises:
        OSError: the record cannot be read.
        ValueError: a line other than the last is not JSON (names file and line).
    """
    spans: list[PermittedSpan] = []
    walk_speed = math.nan
    stopped = False
    current: list[dict] = []

    def close() -> None:
        if current:
            spans.append(_span(current))
            current.clear()

    with open(path, encoding="utf-8") as handle:
        texts = handle.read().splitlines()
    for number, text in enumerate(texts, 1):
        try:
            line = json.loads(text)
        except json.JSONDecodeError:
            if number == len(texts):
                continue  # the last line, cut short by a killed process
            raise ValueError(f"{path}:{number}: not a JSON record line: {text[:80]!r}") from None
        if line.get("event") == "stop":
            stopped = True
        if line.get("event") == "start":
            walk_speed = float(line.get("walk_speed_mps", math.nan))
            continue
        if "permitted" not in line:
            continue
        if current and current[-1]["permitted"] != line["permitted"]:
            close()
        current.append(line)
    close()
    problems = [
        f"the humanoid walked at scale {s.end_scale:.2f} through {s.end_s - s.start_s:.1f} s of "
        f"{s.state} (permitted {s.permitted_scale:.2f})"
        for s in spans[:-1]  # the last span may have ended before the robot could obey
        if not s.obeyed and s.end_s - s.start_s > OBEY_WITHIN_S
    ]
    if not stopped:
        problems.append("the humanoid's record has no stop line: its process ended early")
    if not any(s.state == "RUN" and s.max_scale >= 1.0 - SETTLED_SCALE for s in spans):
        problems.append("the humanoid never walked at full speed on RUN")
    if not any(s.state == "SLOW" and s.obeyed and s.end_scale > 0.0 for s in spans):
        problems.append("the humanoid never slowed to the permitted speed on SLOW")
    if not any(s.state == "STOP" and s.end_scale == 0.0 and s.end_base_speed_mps == 0.0
               and s.max_scale > 0.0 for s in spans):  # fmt: skip
        problems.append("the humanoid never came to a standstill from walking on STOP")
    return HumanoidReport(tuple(spans), walk_speed, tuple(problems))


def _span(lines: list[dict]) -> PermittedSpan:
    scales = [float(line["speed_scale"]) for line in lines]
    return PermittedSpan(
        state=str(lines[0]["permitted"]),
        start_s=float(lines[0]["t"]),
        end_s=float(lines[-1]["t"]),
        permitted_scale=float(lines[-1]["permitted_scale"]),
        end_scale=scales[-1],
        min_scale=min(scales),
        max_scale=max(scales),
        end_base_speed_mps=float(lines[-1]["base_speed_mps"]),
    )
