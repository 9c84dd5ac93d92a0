#!/usr/bin/env python3
"""The original project's server and client (the article's server.py / user.py and their
as_utils helpers), run headless for the transport comparison in `make bench`.

The exchange code is the article's, statement for statement: the same sends and receives, the
same 80 ms check, the server decoding each accepted frame before it answers, the same
newest-wins queues. What differs, and only so that it can be measured:
  * the camera is a list of frames loaded from --frames (PNG files nvt's synthetic scene wrote),
    read unpaced in a loop, as an unpaced camera would be; each is JPEG-encoded at quality 100,
    as as_utils.encode does;
  * the display thread counts frames instead of calling cv2.imshow (there is no display here),
    and the client's reply thread drops replies instead of printing them;
  * --nodelay sets TCP_NODELAY on both sockets (the article sets none);
  * both run for --seconds, then print one JSON line of counts; prints per exchange are dropped.

    python original_pair.py --frames DIR --seconds 10 [--nodelay]
runs a server process and a client process against each other on loopback and prints
{"exchanges": .., "accepted": .., "timeouts": .., "decoded": .., "seconds": ..}.
"""
import argparse
import glob
import json
import os
import socket
import subprocess
import sys
import threading
import time
from queue import Queue

import cv2
import numpy as np


def buf_encode(value, width):
    """as_utils.buf_encode: str(value), left-justified with spaces to `width`."""
    return str(value).ljust(width).encode()


def encode(frame):
    """as_utils.encode: JPEG at quality 100."""
    return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 100])[1]


def nodelay(sock, on):
    if on:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


# ---------------------------------------------------------------- server (server.py)

def server_communicate(sock, queue_img, counts, stop_at):
    while time.time() < stop_at:
        queue_img.queue.clear()
        when_conn_start = buf_encode(time.time(), 32)
        sock.send(when_conn_start)
        length = int(sock.recv(32, socket.MSG_WAITALL))
        data_main_buf = sock.recv(length, socket.MSG_WAITALL)
        when_start = float(sock.recv(32, socket.MSG_WAITALL))
        delay = abs(time.time() - when_start)
        counts["exchanges"] += 1
        if delay > 0.08:
            sock.send(buf_encode(0, 1))
            counts["timeouts"] += 1
        else:
            sock.send(buf_encode(1, 1))
            img_decoded = cv2.imdecode(np.frombuffer(data_main_buf, np.uint8), cv2.IMREAD_COLOR)
            queue_img.put(img_decoded)
            time.sleep(0.0001)
            sock.send(buf_encode("received and not delay", 1024))
            counts["accepted"] += 1
            counts["decoded"] += img_decoded is not None


def server_display(queue_img, counts):
    while True:
        queue_img.get()
        counts["displayed"] += 1


def run_server(port, seconds, with_nodelay):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(5)
    listener.settimeout(30)  # not the article's: a client that never comes ends the run
    print("ready", flush=True)
    conn, _ = listener.accept()
    nodelay(conn, with_nodelay)
    counts = {"exchanges": 0, "accepted": 0, "timeouts": 0, "decoded": 0, "displayed": 0}
    queue_img = Queue(maxsize=1)
    threading.Thread(target=server_display, args=(queue_img, counts), daemon=True).start()
    started = time.time()
    try:
        server_communicate(conn, queue_img, counts, started + seconds)
    except (OSError, ValueError):
        pass
    counts["seconds"] = time.time() - started
    print(json.dumps(counts), flush=True)
    conn.close()


# ---------------------------------------------------------------- client (user.py)

def client_communicate(queue_frame, queue_received, address, with_nodelay, stop_at):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.connect(address)
    nodelay(sock, with_nodelay)
    while time.time() < stop_at:
        str_buf = queue_frame.get()
        str_buf_length = buf_encode(len(str_buf), 32)
        when_conn_start = sock.recv(32)
        if not when_conn_start:
            break
        sock.send(str_buf_length)
        sock.send(str_buf)
        sock.send(when_conn_start)
        is_continue = int(sock.recv(1, socket.MSG_WAITALL))
        if is_continue:
            info = sock.recv(1024, socket.MSG_WAITALL)
            queue_received.put(info)
    sock.close()


def process_received(queue_received):
    while True:
        queue_received.get()


def frame_to_queue(queue_frame, frames):
    i = 0
    while True:
        frame = frames[i % len(frames)]
        i += 1
        str_data = np.array(encode(frame)).tobytes()
        queue_frame.queue.clear()
        queue_frame.put(str_data)


def run_client(port, seconds, with_nodelay, frame_dir):
    frames = [cv2.imread(p) for p in sorted(glob.glob(os.path.join(frame_dir, "*.png")))]
    if not frames:
        sys.exit(f"no PNG frames in {frame_dir}")
    queue_frame, queue_received = Queue(maxsize=1), Queue(maxsize=1)
    threading.Thread(target=frame_to_queue, args=(queue_frame, frames), daemon=True).start()
    threading.Thread(target=process_received, args=(queue_received,), daemon=True).start()
    try:
        client_communicate(queue_frame, queue_received, ("127.0.0.1", port), with_nodelay, time.time() + seconds)
    except (OSError, ValueError):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", required=True, help="folder of PNG frames (the camera)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--nodelay", action="store_true", help="TCP_NODELAY on both sides")
    parser.add_argument("--role", choices=["pair", "server", "client"], default="pair")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    flag = ["--nodelay"] if args.nodelay else []
    if args.role == "server":
        run_server(args.port, args.seconds, args.nodelay)
    elif args.role == "client":
        run_client(args.port, args.seconds + 5, args.nodelay, args.frames)
    else:
        if not glob.glob(os.path.join(args.frames, "*.png")):
            sys.exit(f"no PNG frames in {args.frames}")
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        common = [sys.executable, __file__, "--frames", args.frames, "--seconds", str(args.seconds), "--port", str(port)]
        server = subprocess.Popen(common + ["--role", "server"] + flag, stdout=subprocess.PIPE, text=True)
        assert server.stdout.readline().strip() == "ready"
        client = subprocess.Popen(common + ["--role", "client"] + flag)
        print(server.stdout.readline().strip(), flush=True)
        server.wait(timeout=30)
        client.kill()
        client.wait()


if __name__ == "__main__":
    main()
