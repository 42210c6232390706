"""DDS edge: joining a Cyclone DDS domain and the ROS 2 message types shared across packages.

An edge package like a utility layer: it imports nothing else from safetymon, and both
``safetymon.robot`` (the ``ros2`` robot-state input) and ``safetymon.signals`` (the DDS
safety output and its controller-side receiver) may import it. Import the submodules
directly (``safetymon.dds.domain``, ``safetymon.dds.msgs``, ``safetymon.dds.topics``); this
package module imports nothing, so importing it never needs the ``cyclonedds`` package.
"""

MISSING_PACKAGE_HINT = "Eclipse Cyclone DDS; pip install 'safetymon[ros2]'"
"""How to get the ``cyclonedds`` package, for error messages."""


def cyclonedds_available() -> bool:
    """Whether the ``cyclonedds`` package can be imported here (imported only when asked)."""
    try:
        import cyclonedds.domain  # noqa: F401
    except ImportError:
        return False
    return True
