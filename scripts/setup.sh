#!/usr/bin/env bash
# Installs what nvt needs, idempotently: Debian packages that are missing, and the ONNX Runtime
# shared library (from the PyPI wheel) in .ort/, where the binaries find it by themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

ORT_VERSION=1.31.1
# Everything a test needs is installed here, and a package that cannot be installed fails setup:
# tests never skip themselves for want of a tool.
PACKAGES=(libopencv-dev clang libclang-dev pkg-config xvfb x11-utils darknet chromium mosquitto
  mosquitto-clients nats-server openssl postgresql)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

lib=".ort/libonnxruntime.so.${ORT_VERSION}"
if [ ! -f "$lib" ]; then
  echo "setup: fetching ONNX Runtime ${ORT_VERSION} from the PyPI wheel"
  case "$(uname -m)" in
    x86_64) platform=manylinux_2_28_x86_64 ;;
    aarch64) platform=manylinux_2_28_aarch64 ;;
    *) echo "setup: no onnxruntime wheel for $(uname -m)" >&2; exit 1 ;;
  esac
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp" \
    --python-version 3.11 --implementation cp --abi cp311 --platform "$platform" \
    "onnxruntime==${ORT_VERSION}"
  mkdir -p .ort
  python3 - "$tmp" "$lib" <<'PY'
import glob, shutil, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/onnxruntime-*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.startswith("onnxruntime/capi/libonnxruntime.so"))
    with z.open(name) as src, open(sys.argv[2], "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
  ln -sf "libonnxruntime.so.${ORT_VERSION}" .ort/libonnxruntime.so
fi
# The Python side: the model generator and the reference pipeline the cross-check test runs.
if ! .venv/bin/python -c "import onnx, onnxruntime, cv2, numpy" 2>/dev/null; then
  echo "setup: creating .venv with models/requirements.txt"
  if ! python3 -c "import venv, ensurepip" 2>/dev/null; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
  fi
  rm -rf .venv
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r models/requirements.txt
fi
# A real Frigate event consumer from PyPI (frigate-event-handler, typed, Python 3.12 or newer),
# which the MQTT tests run against nvt's events, in a venv of its own.
if ! .venv-consumers/bin/python -c "import frigate_event_handler.models, aiomqtt" 2>/dev/null; then
  python=""
  for candidate in python3.13 python3.12 "$HOME"/.pyenv/versions/3.13*/bin/python3.13 "$HOME"/.pyenv/versions/3.12*/bin/python3.12; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c "import sys; assert sys.version_info >= (3, 12)" 2>/dev/null; then
      python="$candidate"
      break
    fi
  done
  if [ -z "$python" ]; then
    echo "setup: Python 3.12 or newer is needed for the Frigate consumer test (frigate-event-handler)" >&2
    exit 1
  fi
  echo "setup: creating .venv-consumers ($python) with frigate-event-handler"
  rm -rf .venv-consumers
  "$python" -m venv .venv-consumers
  .venv-consumers/bin/python -m pip install --quiet --disable-pip-version-check "frigate-event-handler==0.3.1"
fi
if [ ! -f models/yolov8n-random.onnx ]; then
  echo "setup: generating models/yolov8n-random.onnx"
  .venv/bin/python models/generate.py yolov8n >/dev/null
fi
echo "setup: ok (ONNX Runtime at $(pwd)/.ort/libonnxruntime.so)"
