"""Counters and latencies of the running monitor, for operations (Prometheus, opt-in).

Every metric lives in the monitor's own registry (no global state), so several monitors
(tests) can coexist in one process. Units are in the metric names (seconds).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from safetymon.signals.frame import SafetyState

_LATENCY_BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
_CYCLE_BUCKETS_S = (0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05)


class MonitorMetrics:
    """The monitor's metrics; update methods are cheap and thread-safe."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.cycles = Counter("safetymon_decision_cycles", "Decision cycles run.", registry=r)
        self.state = Gauge(
            "safetymon_state", "Current decision: 0 STOP, 1 SLOW, 2 RUN.", registry=r
        )
        self.speed_scale = Gauge(
            "safetymon_speed_scale", "Permitted speed fraction 0..1.", registry=r
        )
        self.decisions = Counter(
            "safetymon_decisions", "Decision cycles by resulting state.", ["state"], registry=r
        )
        self.cycle_seconds = Histogram(
            "safetymon_cycle_seconds",
            "Time spent computing one decision cycle.",
            buckets=_CYCLE_BUCKETS_S,
            registry=r,
        )
        self.overruns = Counter(
            "safetymon_loop_overruns", "Decision cycles that started late.", registry=r
        )
        self.people = Gauge("safetymon_people", "People tracked now.", registry=r)
        self.min_distance_m = Gauge(
            "safetymon_min_distance_metres",
            "Closest human-robot separation now (NaN when none).",
            registry=r,
        )
        self.frame_age_s = Gauge(
            "safetymon_frame_age_seconds",
            "Age of the newest processed frame.",
            ["camera"],
            registry=r,
        )
        self.detect_seconds = Histogram(
            "safetymon_detect_seconds",
            "Detection plus floor mapping time per frame.",
            ["camera"],
            buckets=_LATENCY_BUCKETS_S,
            registry=r,
        )
        self.frames = Counter(
            "safetymon_frames_processed", "Frames detected and tracked.", ["camera"], registry=r
        )
        self.camera_faults = Counter(
            "safetymon_camera_faults",
            "Frames or polls that reported a fault.",
            ["camera"],
            registry=r,
        )
        self.robot_state_age_s = Gauge(
            "safetymon_robot_state_age_seconds",
            "Age of the newest robot state.",
            ["robot"],
            registry=r,
        )
        self.robot_messages_rejected = Gauge(
            "safetymon_robot_messages_rejected",
            "Robot state messages rejected so far.",
            registry=r,
        )
        self.robot_sender_restarts = Gauge(
            "safetymon_robot_sender_restarts",
            "Robot state sender restarts (a new session) so far.",
            ["robot"],
            registry=r,
        )
        self.evidence_records = Counter(
            "safetymon_evidence_records", "Evidence records appended.", registry=r
        )
        self.faults = Counter(
            "safetymon_stop_causes",
            "Cycles with a STOP cause, by reason.",
            ["reason"],
            registry=r,
        )

    def observe_decision(
        self,
        state: SafetyState,
        speed_scale: float,
        cycle_s: float,
        people: int,
        min_distance_m: float,
    ) -> None:
        """Record one decision cycle (``cycle_s``: compute time, seconds)."""
        self.cycles.inc()
        self.state.set(int(state))
        self.speed_scale.set(speed_scale)
        self.decisions.labels(state=SafetyState(state).name).inc()
        self.cycle_seconds.observe(cycle_s)
        self.people.set(people)
        self.min_distance_m.set(min_distance_m)

    def serve(self, host: str, port: int) -> int:
        """Serve ``/metrics`` on ``host:port`` from a daemon thread; returns the bound port.

        Raises:
            OSError: the address cannot be bound.
        """
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._server = server
        return int(server.server_address[1])

    def close(self) -> None:
        """Stop serving (if serving)."""
        server = getattr(self, "_server", None)
        if server is not None:
            server.shutdown()
            server.server_close()
