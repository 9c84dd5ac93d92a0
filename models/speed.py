#!/usr/bin/env python3
"""Times the usual Python pipeline over a video, for comparison with nvt-detect:

    python models/speed.py MODEL VIDEO [--threads N]

Prints, in milliseconds per frame (steady state, the first 5 frames skipped):
- `session_run`: onnxruntime's session.run alone, on the same input tensor every time;
- `pipeline`: the whole per-frame loop of reference.py (cv2 read, letterbox, RGB / 255,
  session.run, numpy decoding, class-aware NMS).
"""

import argparse
import json
import time

import cv2
import numpy as np
import onnxruntime as ort

import reference


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("video")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    capture = cv2.VideoCapture(args.video)
    frames, times = 0, []
    while True:
        started = time.perf_counter()
        ok, image = capture.read()
        if not ok:
            break
        reference.detect(session, image, 0.25, 0.45)
        times.append(time.perf_counter() - started)
        frames += 1
    pipeline = 1000 * float(np.median(times[5:]))

    shape = session.get_inputs()[0].shape
    side = shape[2:] if all(isinstance(d, int) for d in shape[2:]) else [640, 640]
    blob = np.random.default_rng(0).random((1, 3, *side), dtype=np.float32)
    runs = []
    for _ in range(max(frames, 30)):
        started = time.perf_counter()
        session.run(None, {name: blob})
        runs.append(time.perf_counter() - started)
    print(json.dumps({"frames": frames, "pipeline_ms": pipeline, "session_run_ms": 1000 * float(np.median(runs[5:]))}))


if __name__ == "__main__":
    main()
