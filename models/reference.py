#!/usr/bin/env python3
"""The usual Ultralytics-style Python pipeline, as the standard nvt-detect is checked against:
OpenCV decode, letterbox (aspect kept, 114 grey, centred), RGB / 255, onnxruntime, YOLOv8-layout
decoding, class-aware NMS, boxes scaled back to the source image.

    python models/reference.py MODEL IMAGE [IMAGE...] [--conf 0.25] [--iou 0.45]

Prints one JSON line per image: {"source": ..., "detections": [{"class_id", "score", "box"}]}.
"""

import argparse
import json

import cv2
import numpy as np
import onnxruntime as ort


def letterbox(image, new_shape):
    """Ultralytics' LetterBox(auto=False, center=True)."""
    h, w = image.shape[:2]
    r = min(new_shape[0] / h, new_shape[1] / w)
    new_unpad = int(round(w * r)), int(round(h * r))
    dw, dh = (new_shape[1] - new_unpad[0]) / 2, (new_shape[0] - new_unpad[1]) / 2
    if (w, h) != new_unpad:
        image = cv2.resize(image, new_unpad, interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    image = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    return image, r, (left, top)


def iou(box, boxes):
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / (area(box) + area(boxes) - inter + 1e-9)


def nms(boxes, scores, classes, iou_thres):
    """Class-aware: boxes of different classes never suppress each other."""
    offset = boxes + classes[:, None] * 7680.0
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        order = rest[iou(offset[i], offset[rest]) <= iou_thres]
    return keep


def detect(session, image, conf, iou_thres, max_det=300):
    inp = session.get_inputs()[0]
    size = inp.shape[2:] if all(isinstance(d, int) for d in inp.shape[2:]) else [640, 640]
    padded, r, (left, top) = letterbox(image, size)
    blob = padded[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    out = session.run(None, {inp.name: np.ascontiguousarray(blob)})[0][0]  # [4+nc, N]
    out = out.T
    scores_all = out[:, 4:]
    classes = scores_all.argmax(1)
    scores = scores_all[np.arange(len(out)), classes]
    mask = scores > conf
    boxes_c, scores, classes = out[mask, :4], scores[mask], classes[mask]
    boxes = np.stack([boxes_c[:, 0] - boxes_c[:, 2] / 2, boxes_c[:, 1] - boxes_c[:, 3] / 2,
                      boxes_c[:, 0] + boxes_c[:, 2] / 2, boxes_c[:, 1] + boxes_c[:, 3] / 2], 1)
    keep = nms(boxes, scores, classes, iou_thres)[:max_det]
    h, w = image.shape[:2]
    result = []
    for i in keep:
        x1, y1, x2, y2 = boxes[i]
        box = [(x1 - left) / r, (y1 - top) / r, (x2 - left) / r, (y2 - top) / r]
        box = [min(max(box[0], 0), w), min(max(box[1], 0), h), min(max(box[2], 0), w), min(max(box[3], 0), h)]
        result.append({"class_id": int(classes[i]), "score": float(scores[i]), "box": [float(v) for v in box]})
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("images", nargs="+")
    parser.add_argument("--conf", type=float, default=0.25)
    parser.add_argument("--iou", type=float, default=0.45)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    for path in args.images:
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        print(json.dumps({"source": path, "detections": detect(session, image, args.conf, args.iou)}))


if __name__ == "__main__":
    main()
