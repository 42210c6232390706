"""The parts of the simulated demo cell around a real `Monitor` (the demo, tests, benchmarks).

`DemoParts.prepare` loads the demo site, lays out the scripted scene, opens the simulated
controller's robot-state socket and points the site's robot input at it; `build_monitor`
builds the real monitor on a frame source of the caller's choice (the scripted cell, or a
benchmark's own), with the renderer's empty cell as the foreground reference and the sim
camera's exact projection for the robot mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from safetymon.config.loader import load_site_config
from safetymon.config.robots import ZmqStateInputConfig
from safetymon.config.site import SiteConfig
from safetymon.monitor.app import CycleListener, Monitor, MonitorParts
from safetymon.perception.sources import FrameSource
from safetymon.sim.camera import SimCamera
from safetymon.sim.cell import DemoScene, demo_camera
from safetymon.sim.counter import CounterScene
from safetymon.sim.live import SimCellSource, SimController
from safetymon.sim.render import CellRenderer


def with_evidence_in(config: SiteConfig, out_dir: Path) -> SiteConfig:
    """``config`` with its evidence database and snapshots in ``out_dir``."""
    evidence = config.evidence.model_copy(
        update={"db_path": out_dir / "evidence.db", "snapshot_dir": out_dir / "snapshots"}
    )
    return config.model_copy(update={"evidence": evidence})


def demo_config(site_file: Path, robot_state_endpoint: str, out_dir: Path) -> SiteConfig:
    """The demo site with the robot's state input pointed at the simulated controller.

    The evidence paths go to ``out_dir``; everything else is the site file as written.

    Raises:
        ConfigError: the site file is invalid.
        ValueError: its first robot does not read its state over ZeroMQ (the simulated arm
            publishes there).
    """
    config = load_site_config(site_file)
    if not config.robots or not isinstance(config.robots[0].state_input, ZmqStateInputConfig):
        raise ValueError(f"{site_file}: the arm cell's robot must have a zmq state_input")
    robots = [
        robot.model_copy(
            update={
                "state_input": robot.state_input.model_copy(
                    update={"endpoint": robot_state_endpoint, "bind": False}
                )
            }
        )
        if index == 0
        else robot
        for index, robot in enumerate(config.robots)
    ]
    return with_evidence_in(config.model_copy(update={"robots": robots}), out_dir)


class SiteCellProperties:
    """What every demo cell derives from its site and scene (`DemoParts`,
    `safetymon.demo.humanoid.HumanoidDemoParts`)."""

    site_file: Path
    config: SiteConfig
    scene: DemoScene | CounterScene
    camera: SimCamera
    renderer: CellRenderer

    def stop(self) -> None:
        """Release what the cell holds (controller, robot process, sockets)."""
        raise NotImplementedError

    @property
    def camera_id(self) -> str:
        """The site's (first) camera, the one the renderer plays."""
        return self.config.cameras[0].id

    @property
    def connection_id(self) -> int:
        """Connection id of the safety output the simulated robot subscribes to."""
        return self.config.outputs.zmq.connection_id if self.config.outputs.zmq else 1

    @property
    def duration_s(self) -> float:
        """The script's length, seconds."""
        return self.scene.duration_s

    def build_monitor(
        self,
        source: FrameSource,
        *,
        evidence_db: Path,
        zmq_endpoint: str | None = "tcp://127.0.0.1:0",
        config: SiteConfig | None = None,
        site_file: Path | None = None,
        status_stream: TextIO | None = None,
        listeners: tuple[CycleListener, ...] = (),
    ) -> Monitor:
        """The real monitor on ``source`` (the cell is stopped if it cannot be built).

        Args:
            source: the camera's frames (e.g. `SimCellSource` of this cell).
            evidence_db: the evidence store.
            zmq_endpoint: the safety output (default: a free loopback port).
            config: a variant of ``self.config`` (a benchmark's detector), default itself.
            site_file: the file the zone editor saves to (default ``self.site_file``).
            status_stream: where the status line goes, if anywhere.
            listeners: extra decision-loop listeners.
        """
        config = config or self.config
        try:
            return Monitor.build(
                config,
                self.site_file.parent,
                site_file=site_file or self.site_file,
                parts=MonitorParts(
                    sources={self.camera_id: source},
                    references={self.camera_id: self.renderer.reference(with_robot=False)},
                    projectors={self.camera_id: self.camera.project},
                    zmq_endpoint=zmq_endpoint,
                    evidence_db=evidence_db,
                    status_stream=status_stream,
                    listeners=listeners,
                    camera_latency_s={self.camera_id: 0.0},  # rendered: no glass to frame
                ),
            )
        except BaseException:
            self.stop()
            raise


@dataclass
class DemoParts(SiteCellProperties):
    """The simulated cell of one run.

    Attributes:
        site_file: the demo site file.
        config: the site with the robot input pointed at ``controller`` (see `demo_config`).
        scene: the scripted scene (zones, table, arm, people).
        camera: the rendered camera.
        renderer: renders the scene through ``camera``.
        controller: the simulated controller (not started).
    """

    site_file: Path
    config: SiteConfig
    scene: DemoScene
    camera: SimCamera
    renderer: CellRenderer
    controller: SimController

    @property
    def extra_files(self) -> tuple[Path, ...]:
        """Files the site names beside it (none: the arm sends its capsules)."""
        return ()

    def frame_source(self, fps: float) -> SimCellSource:
        """The rendered camera of this cell (not started)."""
        return SimCellSource(
            self.renderer, self.controller, fps=fps,
            max_frame_age_s=self.config.cameras[0].max_frame_age_s,
        )  # fmt: skip

    def start(self, safety_endpoint: str, run_s: float) -> None:
        """Start the simulated controller on the monitor's safety output (``run_s``, the
        run's length in seconds, is not needed: it runs until `stop`)."""
        self.controller.start(safety_endpoint, self.connection_id)

    def stop(self) -> None:
        """Stop the simulated controller."""
        self.controller.stop()

    def robot_report(self) -> None:
        """The arm keeps no record of its own (the controller's client is in this process)."""
        return None

    @classmethod
    def prepare(cls, site_file: Path, out_dir: Path) -> DemoParts:
        """Load the site, lay out the scene and open the controller's state socket.

        Raises:
            ConfigError: the site file is invalid.
            ValueError: the site lacks the zones or robot the demo script needs.
        """
        base = load_site_config(site_file)
        scene = DemoScene.from_site(base)
        camera = demo_camera()
        renderer = CellRenderer(scene, camera)
        controller = SimController(scene, base.robots[0])
        config = demo_config(site_file, controller.state_endpoint, out_dir)
        return cls(Path(site_file), config, scene, camera, renderer, controller)
