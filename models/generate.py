#!/usr/bin/env python3
"""Generates nvt's test models: hand-built ONNX graphs, no training, no downloaded weights.

    python models/generate.py shapes      # models/shapes*.onnx and flicker.onnx, committed
    python models/generate.py flicker     # models/flicker.onnx alone
    python models/generate.py yolov8n     # models/yolov8n-random.onnx, made by `make setup`
    python models/generate.py yolov8n-448 # models/yolov8n-448-random.onnx, made by `make bench`
    python models/generate.py yolov8n-320 # models/yolov8n-320-random.onnx, made by `make bench`
    python models/generate.py shapes-heavy # models/shapes-heavy.onnx, made by `make bench`

shapes*.onnx are real detectors built from ONNX operators: for each class colour of nvt's
synthetic scene (red square, green circle, blue triangle) they threshold colour dominance,
take the extent of the mask along rows and columns (ArgMax over the profiles, from both ends)
and score each box by how much of it the mask fills. Every variant finds one object per class,
in its own output layout:

    shapes.onnx          YOLOv8/YOLO11  [1, 4+nc, N]  cx cy w h, class scores (plus a shrunken
                                                       duplicate of each box, for NMS to remove)
    shapes-v5.onnx       YOLOv5/v7      [1, N, 5+nc]  cx cy w h, objectness, class probabilities
    shapes-e2e.onnx      end-to-end     [1, N, 6]     x1 y1 x2 y2 score class (NMS-free)
    shapes-dynamic.onnx  YOLOv8 layout with dynamic height/width and imgsz metadata [480, 640]

flicker.onnx finds the red square only, as two classes, `dog` and `bicycle`, whose scores are
near-equal (0.8 plus and minus 0.03) and swap as the square moves (a sine of its centre's x):
the label of one object flickers between them every ten frames or so, as a real detector's does
on overlapping objects. It tests that a detection of one label never extends another's track.

yolov8n-random.onnx has YOLOv8n's architecture (backbone, C2f blocks, SPPF, FPN/PAN neck,
decoupled head with DFL), output [1, 84, 8400], COCO names, and random weights from a fixed
seed: for speed benchmarks and for cross-checking nvt-detect against the Python reference
pipeline (reference.py), where equal detections matter, not good ones.
"""

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
OPSET = 18
CLASSES = ["red square", "green circle", "blue triangle"]
COCO = [
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
]


def names_metadata(names):
    """The `names` metadata exactly as Ultralytics writes it: str() of a Python dict."""
    return str({i: n for i, n in enumerate(names)})


class Graph:
    """A tiny builder: each method adds nodes and returns the output name."""

    def __init__(self):
        self.nodes, self.inits, self.count = [], [], 0

    def name(self, hint):
        self.count += 1
        return f"{hint}_{self.count}"

    def op(self, op_type, inputs, hint=None, **attrs):
        out = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def const(self, value, dtype=np.float32, hint="c"):
        name = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def model(self, inputs, outputs, metadata):
        graph = helper.make_graph(self.nodes, "nvt", inputs, outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        for key, value in metadata.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.checker.check_model(model)
        return model


def shapes_boxes(g, images):
    """Per class: x1, y1, x2, y2 (input pixels, [1, 3] each) and score ([1, 3])."""
    channel = [g.op("Slice", [images, g.const([c], np.int64), g.const([c + 1], np.int64), g.const([1], np.int64)]) for c in range(3)]
    r, gr, b = channel  # the input is RGB
    dominance = [
        g.op("Sub", [r, g.op("Max", [gr, b])]),
        g.op("Sub", [gr, g.op("Max", [r, b])]),
        g.op("Sub", [b, g.op("Max", [r, gr])]),
    ]
    masks = [g.op("Cast", [g.op("Greater", [d, g.const(0.35)])], to=TensorProto.FLOAT) for d in dominance]
    mask = g.op("Concat", masks, axis=1)  # [1, 3, H, W]

    shape = g.op("Shape", [images])
    height = g.op("Cast", [g.op("Gather", [shape, g.const(2, np.int64)])], to=TensorProto.FLOAT)
    width = g.op("Cast", [g.op("Gather", [shape, g.const(3, np.int64)])], to=TensorProto.FLOAT)

    def extent(axis_reduced, axis_kept, size):
        profile = g.op("ReduceMax", [mask, g.const([axis_reduced], np.int64)], keepdims=0)  # [1, 3, L]
        first = g.op("ArgMax", [profile], axis=2, keepdims=0)
        flipped = g.op("Slice", [profile, g.const([-1], np.int64), g.const([-(2**62)], np.int64), g.const([2], np.int64), g.const([-1], np.int64)])
        last = g.op("ArgMax", [flipped], axis=2, keepdims=0)
        start = g.op("Cast", [first], to=TensorProto.FLOAT)
        end = g.op("Sub", [size, g.op("Cast", [last], to=TensorProto.FLOAT)])
        return start, end

    x1, x2 = extent(2, 3, width)
    y1, y2 = extent(3, 2, height)
    area = g.op("ReduceSum", [mask, g.const([2, 3], np.int64)], keepdims=0)  # [1, 3]
    w, h = g.op("Sub", [x2, x1]), g.op("Sub", [y2, y1])
    fill = g.op("Div", [area, g.op("Max", [g.op("Mul", [w, h]), g.const(1.0)])])
    present = g.op("Clip", [g.op("Div", [area, g.const(64.0)]), g.const(0.0), g.const(1.0)])
    score = g.op("Mul", [fill, present])
    return x1, y1, x2, y2, score


def unsqueeze(g, x, axis):
    return g.op("Unsqueeze", [x, g.const([axis], np.int64)])


def shapes_v8(g, images, out):
    """[1, 4+nc, 3*nc]: each box, a 2-pixel-smaller duplicate scored 0.9 times as high, and one
    shifted 3 pixels right scored 0.8 times as high: NMS must remove both."""
    x1, y1, x2, y2, score = shapes_boxes(g, images)
    cx = g.op("Mul", [g.op("Add", [x1, x2]), g.const(0.5)])
    cy = g.op("Mul", [g.op("Add", [y1, y2]), g.const(0.5)])
    w, h = g.op("Sub", [x2, x1]), g.op("Sub", [y2, y1])
    diag = g.op("Mul", [unsqueeze(g, score, 1), g.const(np.eye(3)[None])])  # [1, 3, 3]
    main = g.op("Concat", [unsqueeze(g, v, 1) for v in (cx, cy, w, h)] + [diag], axis=1)
    w2, h2 = g.op("Sub", [w, g.const(4.0)]), g.op("Sub", [h, g.const(4.0)])
    dup_scores = g.op("Mul", [diag, g.const(0.9)])
    dup = g.op("Concat", [unsqueeze(g, v, 1) for v in (cx, cy, w2, h2)] + [dup_scores], axis=1)
    cx3 = g.op("Add", [cx, g.const(3.0)])
    shifted = g.op("Concat", [unsqueeze(g, v, 1) for v in (cx3, cy, w, h)] + [g.op("Mul", [diag, g.const(0.8)])], axis=1)
    g.nodes.append(helper.make_node("Concat", [main, dup, shifted], [out], axis=2))


def shapes_v5(g, images, out):
    """[1, nc, 5+nc]: objectness carries the score, class probabilities are one-hot."""
    x1, y1, x2, y2, score = shapes_boxes(g, images)
    cx = g.op("Mul", [g.op("Add", [x1, x2]), g.const(0.5)])
    cy = g.op("Mul", [g.op("Add", [y1, y2]), g.const(0.5)])
    w, h = g.op("Sub", [x2, x1]), g.op("Sub", [y2, y1])
    rows = g.op("Concat", [unsqueeze(g, v, 1) for v in (cx, cy, w, h, score)] + [g.const(np.eye(3)[None])], axis=1)
    g.nodes.append(helper.make_node("Transpose", [rows], [out], perm=[0, 2, 1]))


def shapes_e2e(g, images, out, normalized=False):
    """[1, 10, 6]: x1 y1 x2 y2 score class, padded with empty rows as exports pad to 300;
    with `normalized`, the corners as fractions of the 640x640 input."""
    x1, y1, x2, y2, score = shapes_boxes(g, images)
    if normalized:
        x1, y1, x2, y2 = (g.op("Div", [v, g.const(640.0)]) for v in (x1, y1, x2, y2))
    rows = g.op("Concat", [unsqueeze(g, v, 1) for v in (x1, y1, x2, y2, score)] + [g.const([[[0, 1, 2]]])], axis=1)
    padded = g.op("Concat", [rows, g.const(np.zeros((1, 6, 7)))], axis=2)
    g.nodes.append(helper.make_node("Transpose", [padded], [out], perm=[0, 2, 1]))


def flicker_v8(g, images, out):
    """[1, 6, 1]: the red square's box, scored `dog` and `bicycle` in turns."""
    x1, y1, x2, y2, score = shapes_boxes(g, images)
    first = lambda v: g.op("Slice", [v, g.const([0], np.int64), g.const([1], np.int64), g.const([1], np.int64)])
    x1, y1, x2, y2, score = (first(v) for v in (x1, y1, x2, y2, score))  # [1, 1] each
    cx = g.op("Mul", [g.op("Add", [x1, x2]), g.const(0.5)])
    cy = g.op("Mul", [g.op("Add", [y1, y2]), g.const(0.5)])
    w, h = g.op("Sub", [x2, x1]), g.op("Sub", [y2, y1])
    swing = g.op("Mul", [g.op("Sin", [g.op("Div", [cx, g.const(40.0)])]), g.const(0.03)])
    dog = g.op("Mul", [score, g.op("Add", [g.const(0.8), swing])])
    bicycle = g.op("Mul", [score, g.op("Sub", [g.const(0.8), swing])])
    g.nodes.append(helper.make_node("Concat", [unsqueeze(g, v, 1) for v in (cx, cy, w, h, dog, bicycle)], [out], axis=1))


def flicker_model():
    meta = {"names": names_metadata(["dog", "bicycle"]), "stride": "32", "task": "detect", "imgsz": "[640, 640]",
            "description": "nvt flickering-label detector, hand-built from ONNX operators (models/generate.py)",
            "author": "nvt", "license": "MIT OR Apache-2.0"}
    g = Graph()
    flicker_v8(g, "images", "output0")
    inputs = [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 640, 640])]
    outputs = [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 6, 1])]
    save(g.model(inputs, outputs, meta), "flicker.onnx")


def save(model, name):
    path = HERE / name
    onnx.save(model, path)
    print(f"wrote {path.relative_to(HERE.parent)} ({path.stat().st_size} bytes)")


def shapes_models():
    meta = {"names": names_metadata(CLASSES), "stride": "32", "task": "detect",
            "description": "nvt shapes detector, hand-built from ONNX operators (models/generate.py)",
            "author": "nvt", "license": "MIT OR Apache-2.0"}
    for name, build, out_shape in [
        ("shapes.onnx", shapes_v8, [1, 7, 9]),
        ("shapes-v5.onnx", shapes_v5, [1, 3, 8]),
        ("shapes-e2e.onnx", shapes_e2e, [1, 10, 6]),
    ]:
        g = Graph()
        build(g, "images", "output0")
        inputs = [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 640, 640])]
        outputs = [helper.make_tensor_value_info("output0", TensorProto.FLOAT, out_shape)]
        save(g.model(inputs, outputs, {**meta, "imgsz": "[640, 640]"}), name)

    g = Graph()
    shapes_v8(g, "images", "output0")
    inputs = [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, "height", "width"])]
    outputs = [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 7, 9])]
    save(g.model(inputs, outputs, {**meta, "imgsz": "[480, 640]"}), "shapes-dynamic.onnx")


class Yolo(Graph):
    """YOLOv8n's layers with random weights (batch norm folded into the convolutions)."""

    def __init__(self, seed=8):
        super().__init__()
        self.rng = np.random.default_rng(seed)

    def conv(self, x, c_in, c_out, k=1, s=1, act=True, bias=0.0, gain=1.0):
        fan_in = c_in * k * k
        w = self.rng.normal(0.0, gain * np.sqrt(2.0 / fan_in), (c_out, c_in, k, k))
        b = self.rng.normal(bias, 0.1, c_out)
        y = self.op("Conv", [x, self.const(w), self.const(b)], "conv", kernel_shape=[k, k], strides=[s, s], pads=[k // 2] * 4)
        return self.op("Mul", [y, self.op("Sigmoid", [y])], "silu") if act else y

    def c2f(self, x, c_in, c_out, n, shortcut):
        c = c_out // 2
        y = self.conv(x, c_in, 2 * c)
        a = self.op("Slice", [y, self.const([0], np.int64), self.const([c], np.int64), self.const([1], np.int64)])
        b = self.op("Slice", [y, self.const([c], np.int64), self.const([2 * c], np.int64), self.const([1], np.int64)])
        parts = [a, b]
        for _ in range(n):
            t = self.conv(self.conv(parts[-1], c, c, 3), c, c, 3, gain=0.5)
            parts.append(self.op("Add", [parts[-1], t]) if shortcut else t)
        return self.conv(self.op("Concat", parts, axis=1), (2 + n) * c, c_out)

    def sppf(self, x, c):
        y = self.conv(x, c, c // 2)
        pools = [y]
        for _ in range(3):
            pools.append(self.op("MaxPool", [pools[-1]], kernel_shape=[5, 5], strides=[1, 1], pads=[2, 2, 2, 2]))
        return self.conv(self.op("Concat", pools, axis=1), 2 * c, c)

    def up(self, x):
        return self.op("Resize", [x, "", self.const([1, 1, 2, 2])], mode="nearest")

    def build(self, nc=80, size=640, out="output0", finish=True):
        x = "images"
        x = self.conv(x, 3, 16, 3, 2)
        x = self.conv(x, 16, 32, 3, 2)
        x = self.c2f(x, 32, 32, 1, True)
        x = self.conv(x, 32, 64, 3, 2)
        p3 = self.c2f(x, 64, 64, 2, True)
        x = self.conv(p3, 64, 128, 3, 2)
        p4 = self.c2f(x, 128, 128, 2, True)
        x = self.conv(p4, 128, 256, 3, 2)
        x = self.c2f(x, 256, 256, 1, True)
        p5 = self.sppf(x, 256)
        n4 = self.c2f(self.op("Concat", [self.up(p5), p4], axis=1), 384, 128, 1, False)
        n3 = self.c2f(self.op("Concat", [self.up(n4), p3], axis=1), 192, 64, 1, False)
        m4 = self.c2f(self.op("Concat", [self.conv(n3, 64, 64, 3, 2), n4], axis=1), 192, 128, 1, False)
        m5 = self.c2f(self.op("Concat", [self.conv(m4, 128, 128, 3, 2), p5], axis=1), 384, 256, 1, False)

        boxes, scores = [], []
        for feat, c, stride in [(n3, 64, 8), (m4, 128, 16), (m5, 256, 32)]:
            cells = size // stride
            reg = self.conv(self.conv(self.conv(feat, c, 64, 3), 64, 64, 3), 64, 64, act=False, gain=0.5)
            cls = self.conv(self.conv(self.conv(feat, c, 80, 3), 80, 80, 3), 80, nc, act=False, bias=-5.2, gain=12)
            n = cells * cells
            dist = self.op("Softmax", [self.op("Reshape", [reg, self.const([1, 4, 16, n], np.int64)])], axis=2)
            dist = self.op("ReduceSum", [self.op("Mul", [dist, self.const(np.arange(16).reshape(1, 1, 16, 1))]),
                                         self.const([2], np.int64)], keepdims=0)  # [1, 4, n]: l t r b
            ys, xs = np.meshgrid(np.arange(cells) + 0.5, np.arange(cells) + 0.5, indexing="ij")
            anchors = np.stack([xs.ravel(), ys.ravel()])[None]  # [1, 2, n]
            lt = self.op("Slice", [dist, self.const([0], np.int64), self.const([2], np.int64), self.const([1], np.int64)])
            rb = self.op("Slice", [dist, self.const([2], np.int64), self.const([4], np.int64), self.const([1], np.int64)])
            a = self.const(anchors)
            x1y1, x2y2 = self.op("Sub", [a, lt]), self.op("Add", [a, rb])
            centre = self.op("Mul", [self.op("Add", [x1y1, x2y2]), self.const(0.5 * stride)])
            wh = self.op("Mul", [self.op("Sub", [x2y2, x1y1]), self.const(float(stride))])
            boxes.append(self.op("Concat", [centre, wh], axis=1))
            scores.append(self.op("Sigmoid", [self.op("Reshape", [cls, self.const([1, nc, n], np.int64)])]))
        box = self.op("Concat", boxes, axis=2)
        score = self.op("Concat", scores, axis=2)
        self.nodes.append(helper.make_node("Concat", [box, score], [out], axis=1))
        if not finish:
            return out
        inputs = [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])]
        outputs = [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + nc, 8400])]
        meta = {"names": names_metadata(COCO), "imgsz": f"[{size}, {size}]", "stride": "32", "task": "detect",
                "description": "YOLOv8n architecture with random weights (models/generate.py): for benchmarks and cross-checks only"}
        return self.model(inputs, outputs, meta)


def variants():
    """The shapes detector as other kinds of model present themselves: for the input and output
    options (models/README.md) and for the hot-swap tests."""
    (HERE / "variants").mkdir(exist_ok=True)
    meta = {"names": names_metadata(CLASSES), "imgsz": "[640, 640]", "task": "detect"}
    image = lambda name, shape: helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)
    v8_out = [image("output0", [1, 7, 9])]

    def build(name, prepare, inputs, outputs=v8_out, body=shapes_v8, extra_meta=None):
        g = Graph()
        body(g, prepare(g), "output0")
        save(g.model(inputs, outputs, {**meta, **(extra_meta or {})}), f"variants/{name}")

    # Channels last: [1, H, W, 3].
    build("shapes-nhwc.onnx", lambda g: g.op("Transpose", ["images"], perm=[0, 3, 1, 2]), [image("images", [1, 640, 640, 3])])
    # Pixels 0-255.
    build("shapes-0255.onnx", lambda g: g.op("Div", ["images", g.const(255.0)]), [image("images", [1, 3, 640, 640])])
    # BGR channel order.
    def bgr(g):
        planes = [g.op("Slice", ["images", g.const([c], np.int64), g.const([c + 1], np.int64), g.const([1], np.int64)]) for c in (2, 1, 0)]
        return g.op("Concat", planes, axis=1)
    build("shapes-bgr.onnx", bgr, [image("images", [1, 3, 640, 640])])
    # End-to-end with normalised boxes.
    build("shapes-e2e-normalized.onnx", lambda g: "images", [image("images", [1, 3, 640, 640])], [image("output0", [1, 10, 6])],
          body=lambda g, x, out: shapes_e2e(g, x, out, normalized=True))

    # Two outputs; the detections are the second, named "detections".
    g = Graph()
    g.op("ReduceMean", ["images", g.const([2, 3], np.int64)], keepdims=0)
    g.nodes[-1].output[0] = "embedding"
    shapes_v8(g, "images", "detections")
    outputs = [image("embedding", [1, 3]), image("detections", [1, 7, 9])]
    save(g.model([image("images", [1, 3, 640, 640])], outputs, meta), "variants/shapes-two-outputs.onnx")

    # Another layout and another class set: YOLOv5 layout, four classes, other names.
    g = Graph()
    x1, y1, x2, y2, score = shapes_boxes(g, "images")
    cx = g.op("Mul", [g.op("Add", [x1, x2]), g.const(0.5)])
    cy = g.op("Mul", [g.op("Add", [y1, y2]), g.const(0.5)])
    w, h = g.op("Sub", [x2, x1]), g.op("Sub", [y2, y1])
    onehot = np.concatenate([np.eye(3), np.zeros((3, 1))], axis=1).T[None]  # [1, 4, 3]
    rows = g.op("Concat", [unsqueeze(g, v, 1) for v in (cx, cy, w, h, score)] + [g.const(onehot)], axis=1)
    g.nodes.append(helper.make_node("Transpose", [rows], ["output0"], perm=[0, 2, 1]))
    swap_meta = {**meta, "names": names_metadata(["square", "circle", "triangle", "star"])}
    save(g.model([image("images", [1, 3, 640, 640])], [image("output0", [1, 3, 9])], swap_meta), "variants/shapes-swap-v5.onnx")


def fixtures():
    """Models that must be refused or need help: for the error-message tests."""
    (HERE / "fixtures").mkdir(exist_ok=True)
    g = Graph()
    shapes_v8(g, "images", "output0")
    inputs = [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 640, 640])]
    outputs = [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 7, 9])]
    save(g.model(inputs, outputs, {}), "fixtures/shapes-no-names.onnx")

    g = Graph()
    pooled = g.op("ReduceMean", ["images", g.const([2, 3], np.int64)], keepdims=0)  # [1, 3]
    g.nodes.append(helper.make_node("Reshape", [pooled, g.const([1, 3, 1, 1], np.int64)], ["output0"]))
    inputs = [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])]
    outputs = [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 3, 1, 1])]
    save(g.model(inputs, outputs, {}), "fixtures/unsupported-layout.onnx")

    (HERE / "fixtures" / "not-onnx.onnx").write_text("this is a text file, not an ONNX model\n")


# What a hostile or broken model file can carry, for the model battery (tests/tests/doors.rs).
INJECTED_LABEL = '<img src=x onerror="document.body.dataset.pwned=1">'


def hostile():
    """Models that must be refused with one line of error, or must run without harm."""
    (HERE / "hostile").mkdir(exist_ok=True)
    meta = {"names": names_metadata(CLASSES), "imgsz": "[640, 640]"}
    image = lambda name, shape: helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    def v8(metadata, input_shape=(1, 3, 640, 640), name=None):
        g = Graph()
        shapes_v8(g, "images", "output0")
        save(g.model([image("images", list(input_shape))], [image("output0", [1, 7, 9])], metadata), name)

    # A class id past every integer type: once an index out of bounds, now an error.
    v8({**meta, "names": "{0: 'a', 18446744073709551615: 'x'}"}, name="hostile/names-id-overflow.onnx")
    # A dynamic input whose metadata asks for a 100000x100000 input (a 120 GB tensor).
    v8({**meta, "imgsz": "[100000, 100000]"}, input_shape=(1, 3, "height", "width"), name="hostile/huge-imgsz.onnx")
    # A fixed input of 100000x100000.
    v8(meta, input_shape=(1, 3, 100000, 100000), name="hostile/huge-fixed-input.onnx")
    # Labels that are HTML, for the web view's injection test.
    v8({**meta, "names": names_metadata([INJECTED_LABEL, "green circle", "blue triangle"])},
       name="hostile/html-label.onnx")

    # Outputs full of NaN or infinity, in the YOLOv8 layout: must give no boxes, not a crash.
    for name, value in [("nan-output", np.nan), ("inf-output", np.inf)]:
        g = Graph()
        zero = g.op("Mul", [g.op("ReduceMean", ["images", g.const([1, 2, 3], np.int64)], keepdims=1), g.const(0.0)])
        g.nodes.append(helper.make_node("Add", [g.op("Reshape", [zero, g.const([1, 1, 1], np.int64)]),
                                                g.const(np.full((1, 7, 9), value))], ["output0"]))
        save(g.model([image("images", [1, 3, 640, 640])], [image("output0", [1, 7, 9])], meta), f"hostile/{name}.onnx")

    # Zero classes: [1, 4, N], boxes with no class scores.
    g = Graph()
    zero = g.op("Mul", [g.op("ReduceMean", ["images", g.const([1, 2, 3], np.int64)], keepdims=1), g.const(0.0)])
    g.nodes.append(helper.make_node("Add", [g.op("Reshape", [zero, g.const([1, 1, 1], np.int64)]),
                                            g.const(np.ones((1, 4, 9)))], ["output0"]))
    save(g.model([image("images", [1, 3, 640, 640])], [image("output0", [1, 4, 9])], {"names": "{}"}),
         "hostile/zero-classes.onnx")


def shapes_heavy():
    """shapes.onnx's detections at YOLOv8n's cost: the whole YOLOv8n network runs on the input and
    its output, times zero, is added to the shapes detector's. For the motion benchmark, where
    what the detector finds must be right and what a run costs must be a real detector's."""
    meta = {"names": names_metadata(CLASSES), "stride": "32", "task": "detect", "imgsz": "[640, 640]",
            "description": "nvt shapes detector at the cost of YOLOv8n (models/generate.py): for benchmarks",
            "author": "nvt", "license": "MIT OR Apache-2.0"}
    g = Yolo()
    heavy = g.build(out="yolo_output", finish=False)
    shapes_v8(g, "images", "shapes_output")
    nothing = g.op("Mul", [g.op("ReduceMean", [heavy], keepdims=0), g.const(0.0)])
    g.nodes.append(helper.make_node("Add", ["shapes_output", nothing], ["output0"]))
    inputs = [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 640, 640])]
    outputs = [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 7, 9])]
    save(g.model(inputs, outputs, meta), "shapes-heavy.onnx")


def main(which):
    if which in ("shapes", "all"):
        shapes_models()
        flicker_model()
        variants()
        fixtures()
        hostile()
    if which in ("yolov8n", "all"):
        save(Yolo().build(), "yolov8n-random.onnx")
    if which == "flicker":
        flicker_model()
    if which == "hostile":
        hostile()
    if which == "shapes-heavy":
        shapes_heavy()
    if which == "yolov8n-448":
        # The same network at a 448x448 input: about half the work, for the overload benchmark.
        save(Yolo().build(size=448), "yolov8n-448-random.onnx")
    if which == "yolov8n-320":
        # At 320x320, as YOLOv8n is exported for small CPUs: the offline speed comparison.
        save(Yolo().build(size=320), "yolov8n-320-random.onnx")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "all")
