#!/usr/bin/env bash
# The privileged part of installing daxmon on a host (docs/privileges.md), run as root once after
# scripts/image-build.sh, from the installed tree (/opt/daxmon); the Dockerfile's final stage and
# test/vm/privilege.vm.test.ts run it too. Idempotent.
#   - the system user and group `daxmon` (DAXMON_USER overrides the name), which runs the daemon;
#   - bpf/build/ and the helpers in it owned by root and writable by root only (daxmon-caps refuses
#     to launch anything else);
#   - bpf/build/daxmon-caps owned root:daxmon, mode 0750 (only daxmon and root may run it), with
#     FILE capabilities in the permitted set only: the union of what its helpers need. daxmon-caps
#     gives each helper its own part of it (bpf/libbpf/caps.c) and the Node process gets none.
# Needs setcap (Debian: libcap2-bin). Set the capabilities after chown: chown clears them.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
user=${DAXMON_USER:-daxmon}
build="$here/bpf/build"
launcher="$build/daxmon-caps"
# Keep equal to the union of the sets in bpf/libbpf/caps.c (test/deploy/privileges.test.ts checks).
CAPS=cap_dac_read_search,cap_sys_admin,cap_syslog,cap_perfmon,cap_bpf

if [[ $(id -u) != 0 ]]; then
  echo "install-caps: run as root (it creates the daxmon user and sets file capabilities)" >&2
  exit 1
fi
for f in daxmon-caps daxmon-loader daxmon-scan daxmon-bpfcheck daxmon.bpf.o; do
  [[ -f "$build/$f" ]] || {
    echo "install-caps: $build/$f is missing: run scripts/image-build.sh first" >&2
    exit 1
  }
done
command -v setcap >/dev/null || {
  echo "install-caps: setcap not found (Debian: apt-get install libcap2-bin)" >&2
  exit 1
}

getent group "$user" >/dev/null || groupadd --system "$user"
getent passwd "$user" >/dev/null ||
  useradd --system --gid "$user" --no-create-home --no-log-init --home-dir /nonexistent --shell /usr/sbin/nologin "$user"

chown root:root "$build" "$build"/daxmon-loader "$build"/daxmon-scan "$build"/daxmon-bpfcheck "$build"/daxmon.bpf.o
chmod go-w "$build" "$build"/daxmon-loader "$build"/daxmon-scan "$build"/daxmon-bpfcheck "$build"/daxmon.bpf.o
chown root:"$user" "$launcher"
chmod 0750 "$launcher"
setcap "$CAPS=p" "$launcher"
echo "install-caps: $(getcap "$launcher") (owner $(stat -c '%U:%G %a' "$launcher"))"
