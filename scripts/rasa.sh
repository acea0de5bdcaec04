#!/usr/bin/env bash
# Rasa 3.6.21 NLU service for Ruta Emprende Atacama, in its own virtual environment (.venv-rasa, Python 3.10).
# See shared DESIGN.md, "Why Rasa runs as its own service". NLU only: the app calls POST /model/parse.
#
# Usage: scripts/rasa.sh setup | validate | train | run [PORT] | all [PORT]
#   setup     create .venv-rasa with Python 3.10 and install rasa (quick when already done)
#   validate  rasa data validate on domain.yml + nlu/data + nlu/config.yml
#   train     rasa train nlu into .rasa/models/nlu-<hash>.tar.gz (skipped when that model exists); prints its path
#   run       rasa run --enable-api on 127.0.0.1:PORT (default 5005), in the foreground; trains first if needed
#   all       setup, validate, train, run
# Environment: RASA_PYTHON (a Python 3.10 interpreter), RASA_VENV (default .venv-rasa), RASA_STRICT=1 (validate
#              fails on warnings other than the unused intents/responses of an NLU-only project),
#              RASA_DOMAIN / RASA_NLU_DATA / RASA_NLU_CONFIG / RASA_MODELS_DIR (override the project paths).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

RASA_VERSION="3.6.21"
VENV="${RASA_VENV:-$ROOT/.venv-rasa}"
STAMP="$VENV/.rasa-installed"
DOMAIN="${RASA_DOMAIN:-domain.yml}"
NLU_DATA="${RASA_NLU_DATA:-nlu/data}"
NLU_CONFIG="${RASA_NLU_CONFIG:-nlu/config.yml}"
MODELS_DIR="${RASA_MODELS_DIR:-.rasa/models}"

# rasa 3.6.21 pins what it needs itself (setuptools>=70.3,<70.4, packaging<21, pydantic<1.10.10,
# SQLAlchemy<1.5, tensorflow 2.12...): nothing else has to be pinned for it to import, train and serve.
PINS=("rasa==$RASA_VERSION")

# No telemetry, no network at run time; quieter TensorFlow and no oneDNN notice.
export RASA_TELEMETRY_ENABLED=false
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
export TF_ENABLE_ONEDNN_OPTS="${TF_ENABLE_ONEDNN_OPTS:-0}"
export SQLALCHEMY_SILENCE_UBER_WARNING=1
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore}"

die() {
  echo "rasa.sh: $*" >&2
  exit 1
}

is_py310() {
  "$@" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' >/dev/null 2>&1
}

find_python() {
  if [[ -n "${RASA_PYTHON:-}" ]]; then
    is_py310 "$RASA_PYTHON" || die "RASA_PYTHON=$RASA_PYTHON is not a working Python 3.10"
    echo "$RASA_PYTHON"
    return
  fi
  if command -v python3.10 >/dev/null 2>&1 && is_py310 python3.10; then
    command -v python3.10
    return
  fi
  local pyenv_py=/root/.pyenv/versions/3.10.13/bin/python3.10
  if [[ -x "$pyenv_py" ]] && is_py310 "$pyenv_py"; then
    echo "$pyenv_py"
    return
  fi
  if command -v python3.10 >/dev/null 2>&1 && PYENV_VERSION=3.10.13 is_py310 python3.10; then
    PYENV_VERSION=3.10.13 python3.10 -c 'import sys; print(sys.executable)'
    return
  fi
  die "no Python 3.10 found: set RASA_PYTHON, put python3.10 on PATH or install it (e.g. pyenv install 3.10.13)"
}

pip_install() {
  # Drop pip's one-line notices about missing local index folders; keep everything else.
  "$VENV/bin/python" -m pip install --quiet "$@" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
}

installed() {
  [[ -x "$VENV/bin/rasa" && -f "$STAMP" && "$(cat "$STAMP")" == "$RASA_VERSION" ]]
}

setup_venv() {
  if installed; then
    echo "rasa.sh: rasa $RASA_VERSION already installed in $VENV"
    return
  fi
  local py
  py="$(find_python)"
  if [[ ! -x "$VENV/bin/python" ]] || ! is_py310 "$VENV/bin/python"; then
    rm -rf "$VENV"
    echo "rasa.sh: creating $VENV with $py"
    "$py" -m venv "$VENV"
  fi
  echo "rasa.sh: installing ${PINS[*]} (takes a few minutes the first time)"
  pip_install --upgrade "pip<24.1"
  pip_install "${PINS[@]}"
  "$VENV/bin/rasa" --version >/dev/null || die "rasa does not run in $VENV"
  echo "$RASA_VERSION" >"$STAMP"
  echo "rasa.sh: rasa $RASA_VERSION installed in $VENV"
}

require_venv() {
  installed || die "rasa is not installed: run scripts/rasa.sh setup"
}

require_data() {
  [[ -f "$DOMAIN" ]] || die "missing $DOMAIN"
  [[ -f "$NLU_CONFIG" ]] || die "missing $NLU_CONFIG"
  [[ -d "$NLU_DATA" ]] || die "missing $NLU_DATA"
}

data_hash() {
  # sha256 over the names and contents of nlu/data/*, nlu/config.yml and domain.yml; first 12 hex digits.
  local f
  {
    while IFS= read -r -d '' f; do
      printf '%s\0' "$f"
      cat "$f"
    done < <(find "$NLU_DATA" -type f \( -name '*.yml' -o -name '*.yaml' -o -name '*.md' -o -name '*.json' \) -print0 | LC_ALL=C sort -z)
    printf '%s\0' "$NLU_CONFIG"
    cat "$NLU_CONFIG"
    printf '%s\0' "$DOMAIN"
    cat "$DOMAIN"
  } | sha256sum | cut -c1-12
}

model_path() {
  echo "$MODELS_DIR/nlu-$(data_hash).tar.gz"
}

validate() {
  require_venv
  require_data
  # NLU-only project: with no stories or rules every intent and response of the domain draws a "not used in
  # any story or rule" warning, so --fail-on-warnings is unusable. Rasa fails only on errors; RASA_STRICT=1
  # also fails on any other warning (e.g. an intent or entity of the data that the domain does not list).
  local out status=0 others
  out="$(mktemp)"
  "$VENV/bin/rasa" data validate --domain "$DOMAIN" --data "$NLU_DATA" --config "$NLU_CONFIG" 2>&1 |
    tee "$out" || status=$?
  others="$(grep 'UserWarning: ' "$out" | grep -vc 'is not used in any story or rule' || true)"
  rm -f "$out"
  [[ "$status" -eq 0 ]] || die "rasa data validate failed (exit $status)"
  if [[ "$others" -gt 0 ]]; then
    [[ "${RASA_STRICT:-0}" == "1" ]] && die "rasa data validate: $others warning(s) besides unused intents/responses"
    echo "rasa.sh: $others warning(s) besides unused intents/responses (RASA_STRICT=1 makes them fatal)" >&2
  fi
  echo "rasa.sh: validation passed" >&2
}

train() {
  require_venv
  require_data
  local model name
  model="$(model_path)"
  name="$(basename "$model" .tar.gz)"
  if [[ -f "$model" ]]; then
    echo "rasa.sh: model up to date" >&2
  else
    # Train into a private folder and move the result into place, so that an interrupted or concurrent
    # run never leaves a half-written model under the final name; then drop the models of older data.
    mkdir -p "$MODELS_DIR"
    local tmp
    tmp="$(mktemp -d "$MODELS_DIR/.train.XXXXXX")"
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" EXIT
    "$VENV/bin/rasa" train nlu --nlu "$NLU_DATA" --config "$NLU_CONFIG" --domain "$DOMAIN" \
      --out "$tmp" --fixed-model-name "$name" >&2
    [[ -f "$tmp/$name.tar.gz" ]] || die "training did not produce $tmp/$name.tar.gz"
    mv -f "$tmp/$name.tar.gz" "$model"
    rm -rf "$tmp"
    trap - EXIT
    find "$MODELS_DIR" -maxdepth 1 -name 'nlu-*.tar.gz' ! -name "$name.tar.gz" -delete
  fi
  echo "$model"
}

run() {
  local port="${1:-5005}"
  [[ "$port" =~ ^[0-9]+$ ]] || die "bad port: $port"
  require_venv
  require_data
  local model
  model="$(model_path)"
  [[ -f "$model" ]] || model="$(train)"
  echo "rasa.sh: serving $model on http://127.0.0.1:$port" >&2
  exec "$VENV/bin/rasa" run --enable-api -i 127.0.0.1 --port "$port" --model "$model"
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  setup) setup_venv ;;
  validate) validate ;;
  train) train ;;
  run) run "$@" ;;
  all)
    setup_venv
    validate
    train >/dev/null
    run "$@"
    ;;
  *)
    sed -n '2,/^set /{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"
    [[ -z "$cmd" || "$cmd" == "-h" || "$cmd" == "--help" ]] || exit 2
    ;;
esac
