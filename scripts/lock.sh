#!/usr/bin/env bash
# Re-lock the dependencies: requirements/base.lock (what the bot runs on) and
# requirements/dev.lock (that plus the dev extra: tests, ruff, mypy), for Python 3.11 on Linux
# x86_64, every file's hash included. Run after changing the dependencies in pyproject.toml, or
# with --upgrade to move every pin to the newest release that pyproject.toml allows.
set -euo pipefail
cd "$(dirname "$0")/.."

# A pinned uv in a throwaway virtualenv: the same resolver gives the same lock on any machine.
tool="$(mktemp -d)"
trap 'rm -rf "$tool"' EXIT
python3 -m venv "$tool"
"$tool/bin/pip" install -q "uv==0.13.9"

lock() {
  "$tool/bin/uv" pip compile pyproject.toml --quiet --generate-hashes \
    --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
    --custom-compile-command "scripts/lock.sh" "$@"
}
lock --output-file requirements/base.lock "$@"
lock --extra dev --output-file requirements/dev.lock "$@"
