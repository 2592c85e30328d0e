# Shared setup for scripts/interop.sh and scripts/conformance.sh (sourced, not run). The caller
# sets T (the target directory), INSTALL_LOG and NODE_MAJOR.

note() { printf '# %s\n' "$*" >&2; }

# A setup failure still ends with the summary line the test runners read.
die_setup() {
  echo "FAIL setup: $*"
  echo "0 passed, 1 failed"
  exit 1
}

# Runs a command with its output in the install log; on failure shows the log's tail.
run_logged() {
  "$@" >>"$INSTALL_LOG" 2>&1 || { tail -n 20 "$INSTALL_LOG" >&2; return 1; }
}

# iproute2 and util-linux, for the private network namespaces the checks run in.
ensure_namespace_tools() {
  local missing=()
  command -v ip >/dev/null || missing+=(iproute2)
  command -v unshare >/dev/null || missing+=(util-linux)
  [ ${#missing[@]} -gt 0 ] || return 0
  command -v apt-get >/dev/null || die_setup "need ${missing[*]} (no apt-get to install them)"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  note "installing ${missing[*]} with apt-get"
  run_logged $sudo apt-get update || die_setup "apt-get update failed"
  run_logged $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" ||
    die_setup "apt-get install ${missing[*]} failed"
}

# Sets NODE to a Node $NODE_MAJOR (or newer) binary, installing the npm package node@$NODE_MAJOR
# into target/node22 when the machine's Node is older.
ensure_node() {
  node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
  NODE="$T/node22/node_modules/node/bin/node"
  if [ "$(node_major "$(command -v node || echo false)")" -ge "$NODE_MAJOR" ]; then
    NODE=$(command -v node)
  elif [ "$(node_major "$NODE")" != "$NODE_MAJOR" ]; then
    note "installing node@$NODE_MAJOR into target/node22"
    mkdir -p "$T/node22"
    [ -f "$T/node22/package.json" ] || echo '{"name":"node22","private":true}' >"$T/node22/package.json"
    (cd "$T/node22" && run_logged npm install --no-audit --no-fund "node@$NODE_MAJOR") ||
      die_setup "npm install node@$NODE_MAJOR failed"
    [ "$(node_major "$NODE")" = "$NODE_MAJOR" ] || die_setup "node@$NODE_MAJOR installed but $NODE does not run"
  fi
}
