"""Robot configuration: speed limits, stopping data and where each robot may be."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from safetymon.config.base import StrictModel
from safetymon.config.zones import IDENTIFIER_PATTERN

Vector3 = tuple[float, float, float]


class StoppingConfig(StrictModel):
    """Robot stopping data (ISO 10218-2 / ISO/TS 15066 S_s and T_s).

    Give either a constant deceleration, from which T_s = v_r / a_s and S_s = v_r² / (2·a_s)
    follow for each measured speed, or the measured stopping time and distance at the robot's
    maximum speed (used as conservative constants).
    """

    deceleration_mps2: float | None = Field(
        None, gt=0.0, description="Constant braking deceleration a_s in m/s²."
    )
    stopping_time_s: float | None = Field(
        None, ge=0.0, description="Stopping time T_s in seconds at maximum speed."
    )
    stopping_distance_m: float | None = Field(
        None, ge=0.0, description="Stopping distance S_s in metres at maximum speed."
    )

    @model_validator(mode="after")
    def _one_form(self) -> StoppingConfig:
        measured = (self.stopping_time_s, self.stopping_distance_m)
        if self.deceleration_mps2 is not None:
            if any(v is not None for v in measured):
                raise ValueError(
                    "give either deceleration_mps2 or stopping_time_s + stopping_distance_m, "
                    "not both"
                )
        elif any(v is None for v in measured):
            raise ValueError(
                "needs deceleration_mps2, or both stopping_time_s and stopping_distance_m"
            )
        return self


class StabilityConfig(StrictModel):
    """A dynamically stable robot (a humanoid, a self-balancing base): cutting its power
    makes it fall, so a STOP asks its controller for a balance-keeping protective stop, and
    while it stands or walks a fall envelope around its base counts as robot geometry
    (docs/ROBOT.md, "Dynamically stable robots"). Floor frame, metres, seconds."""

    height_m: float = Field(gt=0.2, le=3.0, description="Standing height, metres.")
    fall_radius_m: float | None = Field(
        None,
        gt=0.0,
        le=5.0,
        description=(
            "How far from the base's floor point a fall can reach, metres (default: "
            "height_m: a rigid fall about the feet reaches out to its full height)."
        ),
    )
    max_base_speed_mps: float = Field(
        gt=0.0, le=10.0, description="Largest walking / driving speed of the base, m/s."
    )
    base_stopping: StoppingConfig = Field(
        description=(
            "How the base brakes (from the base's speed): a constant deceleration, or the "
            "stopping time and distance measured at max_base_speed_mps."
        )
    )

    @property
    def fall_reach_m(self) -> float:
        """The fall envelope's radius around the base, metres."""
        return self.height_m if self.fall_radius_m is None else self.fall_radius_m


class BasePose(StrictModel):
    """Pose of a robot's base frame in the floor frame (metres, radians about z, z up)."""

    x_m: float = Field(0.0, description="Base origin x on the floor, metres.")
    y_m: float = Field(0.0, description="Base origin y on the floor, metres.")
    z_m: float = Field(0.0, description="Base origin height above the floor, metres.")
    yaw_rad: float = Field(0.0, description="Base rotation about the floor z axis, radians.")


class CapsulesGeometry(StrictModel):
    """The state messages carry the link capsules directly (endpoints in the base frame)."""

    kind: Literal["capsules"] = "capsules"
    links: int | None = Field(
        None, ge=1, le=256, description="Expected number of links per message (any if unset)."
    )


class DhJoint(StrictModel):
    """One Denavit-Hartenberg row (metres, radians). The joint variable adds to theta or d."""

    a_m: float = Field(0.0, description="Link length a, metres.")
    alpha_rad: float = Field(0.0, description="Link twist alpha, radians.")
    d_m: float = Field(0.0, description="Link offset d, metres.")
    theta_rad: float = Field(0.0, description="Joint angle offset theta, radians.")
    type: Literal["revolute", "prismatic"] = Field("revolute", description="Joint type.")
    min: float | None = Field(None, description="Lower joint limit (rad or m), or none.")
    max: float | None = Field(None, description="Upper joint limit (rad or m), or none.")
    radius_m: float | None = Field(
        None, gt=0.0, description="Capsule radius of this link, metres (default: robot's)."
    )

    @model_validator(mode="after")
    def _limits(self) -> DhJoint:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


class FrameCapsule(StrictModel):
    """An extra capsule (tool, payload, cable) fixed to a kinematic frame, metres."""

    frame: str = Field(
        description="DH: frame index as text, '0' = base .. 'n' = flange; URDF: link name."
    )
    a: Vector3 = Field(description="First axis endpoint in that frame, metres.")
    b: Vector3 = Field(description="Second axis endpoint in that frame, metres.")
    radius_m: float = Field(gt=0.0, description="Capsule radius, metres.")


class DhGeometry(StrictModel):
    """A serial chain given by DH rows; messages carry one joint position per row.

    Capsules: per row, the two chain segments (along z by d, then along x by a for the
    standard convention; x by a then z by d for the modified one), statically zero-length
    segments left out, plus ``extra_capsules``.
    """

    kind: Literal["dh"]
    convention: Literal["standard", "modified"] = Field(
        "standard", description="standard (distal) or modified (Craig, proximal) DH."
    )
    joints: list[DhJoint] = Field(min_length=1, max_length=64, description="DH rows, base out.")
    extra_capsules: list[FrameCapsule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _frames(self) -> DhGeometry:
        for index, capsule in enumerate(self.extra_capsules):
            if not capsule.frame.isdigit() or int(capsule.frame) > len(self.joints):
                raise ValueError(
                    f"extra_capsules[{index}].frame: {capsule.frame!r} is not a frame index "
                    f"0..{len(self.joints)}"
                )
        return self


class UrdfGeometry(StrictModel):
    """A URDF model; messages carry one position per actuated joint (``joint_names`` order;
    ``<mimic>`` joints follow their leader and are not in messages).

    Capsules: ``capsules`` if given, else one per joint from the parent link's origin to the
    child link's origin with the robot's ``link_radius_m`` plus, with
    ``collision_primitives``, one per sphere, cylinder or box collision shape of the URDF
    (sized from it: a box by the capsule around it); then ``extra_capsules`` in either case
    (a head or tool the URDF models only as a mesh).
    """

    kind: Literal["urdf"]
    path: str = Field(
        min_length=1, description="URDF file; relative paths are relative to the site file."
    )
    base_link: str | None = Field(None, description="Base link name (default: the URDF root).")
    joint_names: list[str] | None = Field(
        None, description="Joint order of the messages (default: movable joints in file order)."
    )
    capsules: list[FrameCapsule] = Field(default_factory=list)
    collision_primitives: bool = Field(
        True,
        description=(
            "Without `capsules`: add a capsule per sphere, cylinder or box <collision> of the "
            "URDF (meshes are not loaded; their links keep the joint-to-joint capsule)."
        ),
    )
    extra_capsules: list[FrameCapsule] = Field(default_factory=list)


RobotGeometry = Annotated[CapsulesGeometry | DhGeometry | UrdfGeometry, Field(discriminator="kind")]


class _StateInputBase(StrictModel):
    clock: Literal["receiver", "shared_monotonic"] = Field(
        "receiver",
        description=(
            "receiver: a state's age counts from its arrival (transport latency not counted); "
            "shared_monotonic: the sender stamps capture_time_s with this host's "
            "CLOCK_MONOTONIC (same machine), so latency counts."
        ),
    )
    future_tolerance_s: float = Field(
        0.005,
        ge=0.0,
        le=1.0,
        description="shared_monotonic: capture times this far ahead of arrival are accepted.",
    )
    max_consecutive_rejections: int = Field(
        5, ge=1, le=10_000, description="This many rejected messages in a row is a fault."
    )


class ZmqStateInputConfig(_StateInputBase):
    """Robot state as JSON over ZeroMQ PUB/SUB (frames: topic, JSON message)."""

    kind: Literal["zmq"] = "zmq"
    endpoint: str = Field(
        "tcp://127.0.0.1:5570",
        description="ZeroMQ endpoint, tcp://HOST:PORT or ipc://PATH.",
        pattern=r"^(tcp://[^\s]+:[0-9]+|ipc://[^\s]+)$",
    )
    bind: bool = Field(
        False, description="Bind the SUB socket (default: connect to the controller's PUB)."
    )
    topic: str = Field("robot_state", max_length=255, description="Subscription topic.")
    curve_server_key_file: str | None = Field(
        None,
        title="CURVE server key file",
        description=(
            "The controller publisher's public `.key` file (from `safetymon keys generate`; "
            "relative paths from the site file's folder): enables CURVE. The controller's PUB "
            "socket is the CURVE server holding the matching `.key_secret`, so only it can "
            "deliver robot states; without it anyone who reaches the endpoint can."
        ),
    )


class SerialStateInputConfig(_StateInputBase):
    """Robot state as newline-delimited JSON on a serial port."""

    kind: Literal["serial"]
    port: str = Field(min_length=1, description="Serial port or pyserial URL.")
    baudrate: int = Field(115200, gt=0, le=4_000_000, description="Baud rate, bit/s.")
    hmac_key_file: str | None = Field(
        None,
        title="HMAC key file",
        description=(
            "A shared key file (`safetymon keys generate --hmac`; relative paths from the "
            "site file's folder, owner-only permissions): every line must then be "
            "`HMAC-SHA256 hex, one space, JSON` (hw/ROBOT_STATE.md); lines without a valid "
            "tag are refused as unauthenticated."
        ),
    )


class Ros2QosConfig(StrictModel):
    """DDS QoS of the ROS 2 readers (ROS 2's sensor-data profile by default)."""

    reliability: Literal["best_effort", "reliable"] = Field(
        "best_effort",
        description=(
            "best_effort (default) matches both best-effort and reliable publishers; a "
            "reliable reader matches only reliable ones."
        ),
    )
    depth: int = Field(
        5, ge=1, le=1000, description="History depth: samples kept per topic between reads."
    )


class Ros2StateInputConfig(_StateInputBase):
    """Robot state from a ROS 2 robot over DDS (Cyclone DDS; no ROS install needed).

    Joints from ``sensor_msgs/JointState`` on ``joint_topic``, base pose from
    ``nav_msgs/Odometry`` (or ``geometry_msgs/PoseStamped``) on ``base_topic``; ROS 2's DDS
    names (``rt/<topic>``, ``<pkg>::msg::dds_::<Type>_``). Header stamps order the messages
    and, with a shared clock, date them: ``shared_monotonic`` (stamps from this host's
    CLOCK_MONOTONIC) or ``shared_realtime`` (stamps from CLOCK_REALTIME, ROS 2's system time,
    on this host or one synchronised to it).
    """

    kind: Literal["ros2"]
    clock: Literal["receiver", "shared_monotonic", "shared_realtime"] = Field(  # type: ignore[assignment]
        "receiver",
        description=(
            "receiver: age from arrival; shared_monotonic: header stamps are this host's "
            "CLOCK_MONOTONIC; shared_realtime: header stamps are CLOCK_REALTIME (ROS time "
            "without use_sim_time) of a clock synchronised with this host's."
        ),
    )
    domain_id: int = Field(0, ge=0, le=232, description="DDS domain id (ROS_DOMAIN_ID).")
    loopback_only: bool = Field(
        False,
        description=(
            "Join the domain on the loopback interface only, with unicast discovery (the "
            "robot's ROS 2 nodes run on this host): nothing beyond this host can publish. "
            "False: Cyclone DDS's own configuration applies (CYCLONEDDS_URI; by default every "
            "interface, multicast discovery)."
        ),
    )
    joint_topic: str = Field(
        "/joint_states",
        pattern=r"^/?[A-Za-z][A-Za-z0-9_/]*$",
        max_length=200,
        description="ROS 2 topic of sensor_msgs/JointState.",
    )
    base_topic: str | None = Field(
        "/odom",
        pattern=r"^/?[A-Za-z][A-Za-z0-9_/]*$",
        max_length=200,
        description=(
            "ROS 2 topic of the base pose (odometry frame = floor frame moved by "
            "odom_pose); null: a fixed base at the robot's base_pose."
        ),
    )
    base_type: Literal["odometry", "pose_stamped"] = Field(
        "odometry",
        description="nav_msgs/Odometry (pose and twist) or geometry_msgs/PoseStamped (pose).",
    )
    odom_pose: BasePose = Field(
        default_factory=BasePose,
        description="Pose of the base topic's frame (header.frame_id) in the floor frame.",
    )
    joint_names: list[str] | None = Field(
        None,
        min_length=1,
        max_length=64,
        description=(
            "ROS joint name of each configured joint, in configured order (DH rows; URDF "
            "geometry.joint_names or its movable joints in file order). Default: the URDF's "
            "joint names; a DH robot must give them."
        ),
    )
    ignore_joint_names: list[str] = Field(
        default_factory=list,
        max_length=256,
        description="Joints a message may carry that are not the robot's (gripper fingers).",
    )
    qos: Ros2QosConfig = Field(default_factory=Ros2QosConfig)

    @model_validator(mode="after")
    def _names(self) -> Ros2StateInputConfig:
        names = self.joint_names or []
        if len(set(names)) != len(names):
            raise ValueError(f"joint_names has duplicates: {names}")
        both = sorted(set(names) & set(self.ignore_joint_names))
        if both:
            raise ValueError(f"joint_names and ignore_joint_names share {both}")
        if self.base_topic is not None and self.base_topic.strip("/") == self.joint_topic.strip(
            "/"
        ):
            raise ValueError("joint_topic and base_topic must differ")
        return self


def _input_kind(value: Any) -> Any:
    """``kind`` of a state input; a mapping without one is the default ZeroMQ input."""
    if isinstance(value, dict):
        return value.get("kind", "zmq")
    return getattr(value, "kind", None)


StateInputConfig = Annotated[
    Annotated[ZmqStateInputConfig, Tag("zmq")]
    | Annotated[SerialStateInputConfig, Tag("serial")]
    | Annotated[Ros2StateInputConfig, Tag("ros2")],
    Discriminator(_input_kind),
]


class RobotConfig(StrictModel):
    """One robot of the cell. Its link geometry arrives at run time in its state messages."""

    id: str = Field(pattern=IDENTIFIER_PATTERN, description="Unique robot id.")
    max_speed_mps: float = Field(
        gt=0.0, description="Largest speed of any point of the robot in its program, m/s."
    )
    stopping: StoppingConfig = Field(description="Stopping data.")
    reaction_time_s: float = Field(
        0.05,
        ge=0.0,
        description="Controller reaction time: stop message received to braking, seconds.",
    )
    uncertainty_m: float = Field(
        0.02, ge=0.0, description="Z_r: robot position uncertainty in metres."
    )
    link_radius_m: float = Field(0.1, gt=0.0, description="Default link capsule radius in metres.")
    max_state_age_s: float = Field(
        0.1, gt=0.0, description="A robot state older than this (seconds) is stale: STOP."
    )
    permitted_zone: str | None = Field(
        None, description="Zone id the whole robot must stay inside, or none."
    )
    base_pose: BasePose = Field(
        default_factory=BasePose,
        description="Base pose on the floor used when a state message carries none.",
    )
    kind: Literal["manipulator", "mobile", "humanoid"] = Field(
        "manipulator",
        description=(
            "manipulator (fixed base), mobile (a wheeled base; give base pose and velocity in "
            "its states) or humanoid (legged: dynamically stable unless said otherwise)."
        ),
    )
    dynamically_stable: bool | None = Field(
        None,
        description=(
            "Falls when its power is cut (default: true for humanoid); needs `stability`."
        ),
    )
    stability: StabilityConfig | None = Field(
        None, description="Height, fall reach and base braking of a dynamically stable robot."
    )
    geometry: RobotGeometry = Field(
        default_factory=CapsulesGeometry,
        description="How link capsules follow from a state message: capsules, dh or urdf.",
    )
    state_input: StateInputConfig = Field(
        default_factory=ZmqStateInputConfig, description="Where state messages arrive."
    )

    @property
    def is_dynamically_stable(self) -> bool:
        """``dynamically_stable``, by default true for a humanoid."""
        if self.dynamically_stable is not None:
            return self.dynamically_stable
        return self.kind == "humanoid"

    @model_validator(mode="after")
    def _stability_given(self) -> RobotConfig:
        if self.is_dynamically_stable and self.stability is None:
            raise ValueError(
                f"stability: a dynamically stable robot ({self.kind}) needs its height_m, "
                "max_base_speed_mps and base_stopping (its fall envelope and base braking "
                "count in S_p)"
            )
        if not self.is_dynamically_stable and self.stability is not None:
            raise ValueError("stability: given for a robot that is not dynamically stable "
                             "(set dynamically_stable: true)")  # fmt: skip
        return self

    @model_validator(mode="after")
    def _ros2_joints(self) -> RobotConfig:
        state_input = self.state_input
        if not isinstance(state_input, Ros2StateInputConfig):
            return self
        geometry = self.geometry
        if isinstance(geometry, CapsulesGeometry):
            raise ValueError(
                "state_input kind ros2 reads joint states: geometry must be dh or urdf"
            )
        names = state_input.joint_names
        if isinstance(geometry, DhGeometry):
            if names is None or len(names) != len(geometry.joints):
                raise ValueError(
                    f"state_input.joint_names: a dh robot needs one ROS joint name per row "
                    f"({len(geometry.joints)}), got {names}"
                )
        elif (
            names is not None
            and geometry.joint_names is not None
            and len(names) != len(geometry.joint_names)
        ):
            raise ValueError(
                f"state_input.joint_names: {len(names)} names for "
                f"{len(geometry.joint_names)} geometry.joint_names"
            )
        return self
