"""Site configuration: valid files load, invalid ones fail naming file, field and value."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from safetymon.config.loader import ConfigError, config_hash, load_site_config, parse_site_config
from safetymon.config.site import SiteConfig

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(  # site files; zones/ also holds the example verification plan
    p for p in (REPO / "zones").glob("*.yaml") if p.name != "verification-plan.yaml"
)

BASE = {
    "site": "demo-cell",
    "cameras": [
        {"id": "cam1", "source": 0, "floor_homography": [[0.01, 0, 0], [0, 0.01, 0], [0, 0, 1]]}
    ],
    "detector": {"kind": "hog"},
    "robots": [],
    "zones": [
        {"id": "keep-out", "type": "protective", "polygon": [[0, 0], [2, 0], [2, 1.5], [0, 1.5]]},
        {"id": "caution", "type": "warning", "polygon": [[-1, -1], [3, -1], [3, 2.5], [-1, 2.5]]},
    ],
    "safety": {"human_speed_mps": 1.6},
}


def issue_of(data: dict) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        parse_site_config(data, "site.yaml")
    return [(issue.field, str(issue)) for issue in caught.value.issues]


def with_change(path: list, value: object) -> dict:
    data = copy.deepcopy(BASE)
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


def test_issue_example_shape_is_accepted() -> None:
    config = parse_site_config(BASE)
    assert config.zones[1].type.value == "warning"
    assert config.safety.human_speed_mps == 1.6


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_shipped_examples_load(path: Path) -> None:
    config = load_site_config(path)
    assert isinstance(config, SiteConfig)


def test_at_least_three_example_sites_ship() -> None:
    assert len(EXAMPLES) >= 3
    assert (REPO / "zones" / "demo-cell.yaml") in EXAMPLES


@pytest.mark.parametrize(
    ("path", "value", "field", "fragment"),
    [
        (
            ["zones", 1, "polygon"],
            [[0, 0], [2, 2], [2, 0], [0, 2]],
            "zones[1].polygon",
            "not valid",
        ),
        (["zones", 0, "polygon"], [[0, 0], [1, 1]], "zones[0].polygon", "3 distinct"),
        (["zones", 0, "polygon"], [[0, 0], [1, 1], [2, 2]], "zones[0].polygon", "polygon"),
        (
            ["zones", 0, "polygon"],
            [[0, 0], [1, 0], [float("nan"), 1]],
            "zones[0].polygon",
            "finite",
        ),
        (["zones", 0, "polygon"], [[0, 0], [1, 0], [1, 0], [0, 0]], "zones[0].polygon", "distinct"),
        (["zones", 0, "type"], "danger", "zones[0].type", "'danger'"),
        (["zones", 1, "id"], "keep-out", "zones", "duplicate id 'keep-out'"),
        (["safety", "human_speed_mps"], -1.0, "safety.human_speed_mps", "-1.0"),
        (["safety", "human_speed_mps"], float("nan"), "safety.human_speed_mps", "nan"),
        (["safety", "colour"], "red", "safety.colour", "Extra inputs"),
        (["detector", "kind"], "hog+sonar", "detector.kind", "sonar"),
        (["detector", "kind"], "yolo", "detector", "need `model`"),
        (["cameras"], [], "cameras", "at least 1"),
        (
            ["cameras", 0, "floor_homography"],
            [[1, 0], [0, 1]],
            "cameras[0].floor_homography",
            "3x3",
        ),
        (
            ["cameras", 0, "floor_homography"],
            [[1, 2, 3], [2, 4, 6], [0, 0, 1]],
            "cameras[0].floor_homography",
            "singular",
        ),
        (["cameras", 0, "source"], -3, "cameras[0].source", "-3"),
        (["site"], "bad name with spaces", "site", "pattern"),
    ],
)
def test_invalid_values_name_field_and_value(
    path: list, value: object, field: str, fragment: str
) -> None:
    issues = issue_of(with_change(path, value))
    matching = [
        text for f, text in issues if f == field or f.startswith((field + "[", field + "."))
    ]
    assert matching, issues
    text = matching[0]
    assert text.startswith(f"site.yaml: {field}")
    assert fragment in text


def test_camera_without_floor_mapping_is_refused() -> None:
    data = copy.deepcopy(BASE)
    del data["cameras"][0]["floor_homography"]
    (field, text), *_ = issue_of(data)
    assert field == "cameras[0]"
    assert "floor_homography or calibration" in text


def test_every_error_is_reported_not_just_the_first() -> None:
    data = with_change(["safety", "human_speed_mps"], -1)
    data["zones"][0]["type"] = "nope"
    fields = {f for f, _ in issue_of(data)}
    assert {"safety.human_speed_mps", "zones[0].type"} <= fields


def robot(**change: object) -> dict:
    entry: dict = {"id": "arm1", "max_speed_mps": 1.0, "stopping": {"deceleration_mps2": 3.0}}
    entry.update(change)
    return entry


@pytest.mark.parametrize(
    ("entry", "field", "fragment"),
    [
        (robot(stopping={}), "robots[0].stopping", "needs deceleration_mps2"),
        (
            robot(stopping={"deceleration_mps2": 2, "stopping_time_s": 0.3}),
            "robots[0].stopping",
            "not both",
        ),
        (robot(stopping={"stopping_time_s": 0.3}), "robots[0].stopping", "both"),
        (robot(max_speed_mps=0), "robots[0].max_speed_mps", "greater than 0"),
        (robot(permitted_zone="nowhere"), "", "no zone with id 'nowhere'"),
        (robot(permitted_zone="keep-out"), "", "expected 'envelope'"),
    ],
)
def test_robot_errors(entry: dict, field: str, fragment: str) -> None:
    data = copy.deepcopy(BASE)
    data["robots"] = [entry]
    issues = issue_of(data)
    assert any(f == field and fragment in text for f, text in issues), issues


def test_yaml_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("site: x\ncameras: [\n")
    with pytest.raises(ConfigError) as caught:
        load_site_config(path)
    assert str(path) in str(caught.value)
    assert "line" in caught.value.issues[0].field


def test_duplicate_yaml_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    text = yaml.safe_dump(BASE).replace("site: demo-cell", "site: demo-cell\nsite: other")
    path.write_text(text)
    with pytest.raises(ConfigError, match="duplicate key 'site'"):
        load_site_config(path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read file"):
        load_site_config(tmp_path / "absent.yaml")


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(ConfigError, match="mapping"):
        parse_site_config([1, 2], "list.yaml")


def test_closing_point_is_dropped_and_hash_is_stable() -> None:
    data = copy.deepcopy(BASE)
    data["zones"][0]["polygon"].append([0, 0])
    config = parse_site_config(data)
    assert config.zones[0].polygon[-1] != config.zones[0].polygon[0]
    assert config_hash(config) == config_hash(parse_site_config(BASE))
    assert config_hash(config) != config_hash(parse_site_config(with_change(["site"], "other")))


def test_schema_lists_zone_types() -> None:
    schema = SiteConfig.model_json_schema()
    text = str(schema)
    for kind in ("warning", "protective", "restricted", "envelope"):
        assert kind in text


@pytest.mark.parametrize(
    ("dds", "field", "fragment"),
    [
        ({"domain_id": 233}, "outputs.dds.domain_id", "233"),
        ({"frame_topic": "safety frame"}, "outputs.dds.frame_topic", "'safety frame'"),
        ({"status_topic": "/a//b"}, "outputs.dds.status_topic", "'/a//b'"),
        ({"history_depth": 0}, "outputs.dds.history_depth", "0"),
        ({"heartbeat_hz": 0}, "outputs.dds.heartbeat_hz", "0"),
        ({"qos": "best_effort"}, "outputs.dds.qos", "best_effort"),
        ({"status_topic": "safetymon/safety_frame"}, "outputs.dds", "must differ from frame_topic"),
    ],
)
def test_dds_output_errors_name_field_and_value(dds: dict, field: str, fragment: str) -> None:
    issues = issue_of(with_change(["outputs"], {"dds": dds}))
    assert any(f == field and fragment in text for f, text in issues), issues


def test_dds_output_defaults_are_loopback_reliable_and_distinct_topics() -> None:
    config = parse_site_config(with_change(["outputs"], {"dds": {}}))
    dds = config.outputs.dds
    assert dds is not None and dds.loopback_only and dds.domain_id == 0
    assert (dds.frame_topic, dds.status_topic) == (
        "/safetymon/safety_frame", "/safetymon/safety_status"
    )
    assert dds.history_depth == 1 and dds.heartbeat_hz == 50.0


def test_a_ros2_input_and_the_dds_output_must_join_a_domain_alike() -> None:
    robot = {
        "id": "arm1", "max_speed_mps": 1.0, "stopping": {"deceleration_mps2": 4.0},
        "geometry": {"kind": "dh", "joints": [{"a_m": 0.4, "d_m": 0.1}]},
        "state_input": {"kind": "ros2", "domain_id": 3, "joint_names": ["j1"]},
    }  # fmt: skip
    data = with_change(["robots"], [robot])
    data["outputs"] = {"dds": {"domain_id": 3}}  # input: network (default), output: loopback
    issues = issue_of(data)
    assert any(
        "outputs.dds.loopback_only (True) differs from robots[0].state_input.loopback_only "
        "(False) on DDS domain 3" in text for _, text in issues
    ), issues
    data["outputs"] = {"dds": {"domain_id": 4}}  # another domain: fine
    assert parse_site_config(data).outputs.dds is not None
    data["outputs"] = {"dds": {"domain_id": 3, "loopback_only": False}}  # alike: fine
    assert parse_site_config(data).outputs.dds is not None
