"""Load the key files that authenticate robot-state inputs (refuse to start without them).

Per robot, ``state_input.curve_server_key_file`` (ZeroMQ: the controller publisher's CURVE
public key) or ``state_input.hmac_key_file`` (serial: the shared HMAC key); relative paths
from the site file's folder. The result maps each key file as written in the site file to
its key, for ``robot.receiver.start_receivers``.
"""

from __future__ import annotations

from pathlib import Path

from safetymon.config.loader import ConfigError, ConfigIssue
from safetymon.config.robots import SerialStateInputConfig, ZmqStateInputConfig
from safetymon.config.site import SiteConfig
from safetymon.signals.keys import KeyFileError, load_hmac_key, load_public_key


def load_state_input_keys(
    config: SiteConfig, base_dir: Path, site_file: Path | None = None
) -> dict[str, bytes]:
    """Every robot-state input key of the site, by key file as configured.

    Raises:
        ConfigError: a key file is missing, unreadable, not a key, or (HMAC) readable by
            other users; names the robot's field and the file.
    """
    keys: dict[str, bytes] = {}
    issues: list[ConfigIssue] = []
    shared: dict[tuple[str, ...], str | None] = {}  # one input, one key file
    for index, robot in enumerate(config.robots):
        state_input = robot.state_input
        if isinstance(state_input, ZmqStateInputConfig):
            field, configured = "curve_server_key_file", state_input.curve_server_key_file
            load = load_public_key
            link = (state_input.endpoint, str(state_input.bind), state_input.topic)
        elif isinstance(state_input, SerialStateInputConfig):
            field, configured = "hmac_key_file", state_input.hmac_key_file
            load = load_hmac_key
            link = (state_input.kind, state_input.port)
        else:  # ros2: DDS without security, no key file
            continue
        if shared.setdefault(link, configured) != configured:
            issues.append(
                ConfigIssue(
                    str(site_file or "<site>"),
                    f"robots[{index}].state_input.{field}",
                    f"robot {robot.id!r} shares its state input with another robot that names "
                    f"key file {shared[link]!r}: one input has one key",
                    configured,
                    True,
                )
            )
            continue
        if configured is None or configured in keys:
            continue
        path = Path(configured)
        path = path if path.is_absolute() else Path(base_dir) / path
        try:
            keys[configured] = load(path)
        except KeyFileError as error:
            issues.append(
                ConfigIssue(
                    str(site_file or "<site>"),
                    f"robots[{index}].state_input.{field}",
                    str(error),
                    configured,
                    True,
                )
            )
    if issues:
        raise ConfigError(issues)
    return keys
