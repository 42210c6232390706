"""All configured signal outputs behind one call per decision.

ZeroMQ PUB, serial, Modbus RTU and ROS 2 (DDS) topics (``outputs.dds``, docs/ROS2.md).

A failing output is reported as a fault (``Reason.OUTPUT_FAULT``) so the decision goes to
STOP on every remaining output; the failing one is itself fail-safe (its receiver's
watchdog sees silence or the relay drops).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from safetymon.config.outputs import OutputsConfig
from safetymon.signals.frame import SafetyState

log = logging.getLogger(__name__)


@dataclass
class SignalOutputs:
    """The ZeroMQ publisher, serial output, Modbus relay and DDS (ROS 2) output of one site
    (each optional).

    Attributes:
        zmq_endpoint: the endpoint the publisher bound (resolved port), or None.
        sent: decisions handed to the outputs.
    """

    zmq_publisher: object | None = None
    serial_output: object | None = None
    modbus_output: object | None = None
    dds_output: object | None = None
    zmq_endpoint: str | None = None
    sent: int = 0
    zmq_fault: str | None = None
    error_count: int = 0
    errors: list[str] = field(default_factory=list)
    failed_writes_seen: dict[str, int] = field(default_factory=dict)
    """Per output, its failed-write count at the last ``faults()`` (a failure between two
    reads is reported even when a later write succeeded)."""

    @classmethod
    def open(cls, config: OutputsConfig, *, zmq_endpoint: str | None = None) -> SignalOutputs:
        """Open every configured output; all start in STOP.

        Args:
            config: the site's ``outputs`` section.
            zmq_endpoint: overrides ``outputs.zmq.endpoint`` (demo, tests); when given and no
                ZeroMQ output is configured, one is opened with default settings.

        Raises:
            OSError: an output cannot be opened (endpoint in use, serial port missing); the
                outputs opened so far are closed (they send STOP) first.
        """
        outputs = cls()
        try:
            zmq_config = config.zmq
            if zmq_endpoint is not None:
                from safetymon.config.outputs import ZmqOutputConfig

                base = zmq_config or ZmqOutputConfig()
                zmq_config = base.model_copy(update={"endpoint": zmq_endpoint})
            if zmq_config is not None:
                from safetymon.signals.zmq_publisher import ZmqPublisher

                publisher = ZmqPublisher(zmq_config)
                outputs.zmq_publisher = publisher
                outputs.zmq_endpoint = publisher.endpoint
            if config.serial is not None:
                from safetymon.signals.serial_output import SerialOutput

                serial_output = SerialOutput(config.serial, on_error=outputs._error("serial"))
                serial_output.start()
                outputs.serial_output = serial_output
            if config.modbus is not None:
                from safetymon.signals.modbus_output import ModbusOutput

                modbus_output = ModbusOutput(config.modbus, on_error=outputs._error("modbus"))
                modbus_output.start()
                outputs.modbus_output = modbus_output
            if config.dds is not None:
                outputs.dds_output = _open_dds(config, outputs._error("dds"))
        except Exception as exc:
            outputs.close()
            raise OSError(f"cannot open the signal outputs: {exc}") from exc
        return outputs

    def _error(self, name: str) -> Callable[[BaseException], None]:
        def record(exc: BaseException) -> None:
            message = f"{name}: {exc}"
            self.error_count += 1
            if len(self.errors) < 100:
                self.errors.append(message)
            if self.error_count == 1 or self.error_count % 1000 == 0:  # a retry loop: no spam
                log.warning("output error #%d %s", self.error_count, message)

        return record

    def send(self, state: SafetyState, speed_scale: float, reasons: int) -> None:
        """Hand one decision to every output (non-blocking: outputs send from own threads).

        Raises nothing: a failure marks the output faulty (see :meth:`faults`).
        """
        self.sent += 1
        if self.zmq_publisher is not None:
            try:
                self.zmq_publisher.publish(state, speed_scale, reasons)
            except Exception as exc:  # a closed or broken socket is a fault, never a crash
                self._error("zmq")(exc)
                self.zmq_fault = f"zmq publisher failed: {exc}"
        if self.serial_output is not None:
            self.serial_output.set_state(state, speed_scale=speed_scale, reasons=reasons)
        if self.modbus_output is not None:
            self.modbus_output.set_state(state)
        if self.dds_output is not None:
            self.dds_output.set_state(state, speed_scale=speed_scale, reasons=reasons)

    def faults(self) -> list[str]:
        """Names and details of the outputs that are failing now or failed a write since the
        last call (empty when all are fine). A write that failed and was followed by a good
        one before this call is still reported once: every failed write is an OUTPUT_FAULT."""
        found = []
        if self.zmq_fault:
            found.append(self.zmq_fault)
        for name, output in (
            ("serial", self.serial_output),
            ("modbus", self.modbus_output),
            ("dds", self.dds_output),
        ):
            if output is None:
                continue
            failed = int(getattr(output, "errors", 0))
            new_failures = failed > self.failed_writes_seen.get(name, 0)
            self.failed_writes_seen[name] = failed
            if getattr(output, "fault", False) or new_failures:
                where = getattr(output, "label", None)
                last = getattr(output, "last_error", None)
                found.append(f"{name} output failing{f' ({where})' if where else ''}: {last}")
        return found

    def close(self) -> None:
        """Send STOP on every output and close them (each close is best effort)."""
        outputs = (self.zmq_publisher, self.serial_output, self.modbus_output, self.dds_output)
        for output in outputs:
            if output is None:
                continue
            try:
                output.close()
            except Exception as exc:
                log.warning("closing an output failed: %s", exc)


def _open_dds(config: OutputsConfig, on_error: Callable[[BaseException], None]) -> object:
    """Open and start the DDS output (``outputs.dds``); OSError when it cannot be opened,
    also when the ``cyclonedds`` package is missing."""
    assert config.dds is not None
    from safetymon.dds import MISSING_PACKAGE_HINT

    try:
        from safetymon.signals.dds_output import DdsOutput
    except ImportError as error:
        raise OSError(
            f"outputs.dds needs the Python package 'cyclonedds' ({MISSING_PACKAGE_HINT}): {error}"
        ) from None
    output = DdsOutput(config.dds, on_error=on_error)
    output.start()
    return output
