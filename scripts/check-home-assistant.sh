#!/usr/bin/env bash
# A real Home Assistant against nvt's MQTT discovery, by hand (not part of `make test`: it
# installs Home Assistant, several hundred MB, from PyPI). docs/events.md records its results.
#
#   scripts/check-home-assistant.sh VERSION PYTHON [DIR]
#   scripts/check-home-assistant.sh 2024.1.6 ~/.pyenv/versions/3.11.7/bin/python3.11
#   scripts/check-home-assistant.sh 2025.4.4 ~/.pyenv/versions/3.13.0/bin/python3.13
#
# Installs Home Assistant VERSION into DIR/venv (with the constraints its own wheel ships),
# starts a mosquitto and Home Assistant on loopback, onboards it and adds the MQTT integration
# over its REST API, then runs nvt-server (target/debug, `make build` or `cargo build` first)
# with `--camera door=127.0.0.1` and a synthetic client, and prints nvt's entities' states:
# streaming, the camera gone, back, the server SIGKILLed with objects in view, and restarted
# with no camera; then the retained counts, and Home Assistant's warnings and errors.
set -euo pipefail
version=${1:?Home Assistant version}
python=${2:?a Python that version runs on}
dir=${3:-/tmp/nvt-ha-$version}
repo="$(cd "$(dirname "$0")/.." && pwd)"
bin="$repo/target/debug"
mkdir -p "$dir/config"
cd "$dir"

if ! venv/bin/python -c "import homeassistant" 2>/dev/null; then
  "$python" -m venv venv
  venv/bin/pip download -q --no-deps "homeassistant==$version" -d wheel
  unzip -o -q wheel/homeassistant-"$version"-*.whl homeassistant/package_constraints.txt -d constraints
  venv/bin/pip install -q --disable-pip-version-check -c constraints/homeassistant/package_constraints.txt "homeassistant==$version"
  paho=$(grep -o '"paho-mqtt==[^"]*"' venv/lib/python3.*/site-packages/homeassistant/components/mqtt/manifest.json | tr -d '"')
  venv/bin/pip install -q --disable-pip-version-check "$paho"
fi

free_port() { python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
mqtt=$(free_port); ha=$(free_port); listen=127.0.0.1:$(free_port)
cat > config/configuration.yaml <<EOF
homeassistant:
  name: nvt check
  time_zone: UTC
  unit_system: metric
  latitude: 0
  longitude: 0
  elevation: 0
http:
  server_host: 127.0.0.1
  server_port: $ha
api:
config:
onboarding:
logger:
  default: warning
EOF
printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$mqtt" > mosquitto.conf

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT
mosquitto -c mosquitto.conf > mosquitto.log 2>&1 & pids+=($!)
venv/bin/hass -c config > hass.out 2>&1 & pids+=($!)
base=http://127.0.0.1:$ha
for _ in $(seq 1 180); do
  curl -s -o /dev/null "$base/api/onboarding" && break
  sleep 1
done

json() { python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }
code=$(curl -s -X POST "$base/api/onboarding/users" -H 'Content-Type: application/json' \
  -d "{\"client_id\": \"$base/\", \"name\": \"nvt\", \"username\": \"nvt\", \"password\": \"nvt-check-$RANDOM$RANDOM\", \"language\": \"en\"}" | json "['auth_code']")
token=$(curl -s -X POST "$base/auth/token" -d "grant_type=authorization_code&code=$code&client_id=$base/" | json "['access_token']")
auth=(-H "Authorization: Bearer $token" -H 'Content-Type: application/json')
flow=$(curl -s -X POST "$base/api/config/config_entries/flow" "${auth[@]}" -d '{"handler": "mqtt"}' | json "['flow_id']")
curl -s -X POST "$base/api/config/config_entries/flow/$flow" "${auth[@]}" -d "{\"broker\": \"127.0.0.1\", \"port\": $mqtt}" | json "['type']"

states() {
  echo "-- $1"
  curl -s "$base/api/states" "${auth[@]}" | python3 -c "
import json, sys
for s in sorted(json.load(sys.stdin), key=lambda s: s['entity_id']):
    if '.nvt_' in s['entity_id']:
        a = s['attributes']
        print('  ', s['entity_id'], '=', s['state'], '|', a.get('friendly_name'), a.get('icon', ''), a.get('event_type', ''))"
}
server() { RUST_LOG=warn "$bin/nvt-server" --listen "$listen" --model "$repo/models/shapes.onnx" --mqtt "mqtt://127.0.0.1:$mqtt" --stats-every 2s "$@" > "nvt-$RANDOM.log" 2>&1 & }
client() { RUST_LOG=warn "$bin/nvt-client" --connect "$listen" --source synthetic --fps 10 --duration "$1" > /dev/null 2>&1 & }

server --camera door=127.0.0.1 --mqtt-labels person --http 127.0.0.1:$(free_port); nvt=$!; pids+=($nvt)
sleep 3
client 30s; camera=$!; pids+=($camera)
sleep 6; states "streaming"
kill "$camera"; sleep 3; states "the camera gone"
client 30s; camera=$!; pids+=($camera)
sleep 6; states "back"
kill -9 "$nvt"; kill "$camera"; sleep 3; states "server SIGKILLed with objects in view"
server --camera door=127.0.0.1 --mqtt-labels person; nvt=$!; pids+=($nvt)
sleep 8; states "restarted, no camera"
echo "-- retained counts"
timeout 2 mosquitto_sub -p "$mqtt" -t 'nvt/door/+' -v | sort || true
echo "-- Home Assistant's warnings and errors"
grep -E ' (WARNING|ERROR) ' config/home-assistant.log | cut -c1-300 || true
