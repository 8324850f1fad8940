import { HOSTROOT_TAG, MARKERS, RESULTS_TAG } from './markers.js';

/**
 * The initramfs /init (busybox sh). It is the same for every run of a kernel, so the image can be
 * cached: everything run-specific (extra shares, network, the job) is read from `guest.env` on the
 * results share. It mounts the host's root read-only over 9p and chroots there, so the guest runs
 * the host's node, bpftrace, mkfs and ndctl unchanged.
 */
export function renderInitScript(): string {
  const p9 = 'trans=virtio,version=9p2000.L,msize=512000';
  return `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
fail() { echo "${MARKERS.bootFailed} $*"; sync; poweroff -f; sleep 10; }
echo "DAXMON_STAGE modules $(cut -d' ' -f1 /proc/uptime)"
for m in $(cat /mods/order); do
  insmod /mods/$m 2>/tmp/insmod.err || echo "DAXMON_WARN insmod $m: $(cat /tmp/insmod.err)"
done
mount -t 9p -o ${p9} ${RESULTS_TAG} /results || fail "cannot mount the results share (9p)"
[ -f /results/guest.env ] || fail "no guest.env on the results share"
. /results/guest.env
mount -t 9p -o ${p9},ro,cache=loose ${HOSTROOT_TAG} /host || fail "cannot mount the host root (9p)"
mount -t proc proc /host/proc
mount -t sysfs sys /host/sys
mount -t devtmpfs dev /host/dev
mount -t devpts devpts /host/dev/pts 2>/dev/null
# tmpfs over the host's /tmp, /run and /mnt: the guest needs them writable, and a guest must not see
# (or scribble on) the host's temporary files.
mount -t tmpfs tmp /host/tmp
mount -t tmpfs run /host/run
mount -t tmpfs mnt /host/mnt
mount -t tracefs nodev /host/sys/kernel/tracing
mount -t debugfs nodev /host/sys/kernel/debug
mount -t bpf bpf /host/sys/fs/bpf
mkdir -p /host/run/ndctl /host/tmp/daxmon
for s in $DAXMON_SHARES; do
  tag=\${s%%:*}; rest=\${s#*:}; path=\${rest%:*}; mode=\${rest##*:}
  mkdir -p /host$path 2>/dev/null
  mount -t 9p -o ${p9},$mode $tag /host$path || fail "cannot mount share $tag at $path"
done
mkdir -p /host$DAXMON_RESULTS_PATH 2>/dev/null
mount --bind /results /host$DAXMON_RESULTS_PATH || fail "cannot bind the results share at $DAXMON_RESULTS_PATH"
ip link set lo up
if [ "$DAXMON_NET" = 1 ]; then
  ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2 || fail "network setup failed"
fi
echo "${MARKERS.ready} $(cut -d' ' -f1 /proc/uptime)"
# The power-off happens inside the pipeline: a background process the job left behind still holds
# the pipe to tee, and waiting for tee's end of file would hang the guest.
( chroot /host /usr/bin/env -i PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb \\
    DAXMON_RESULTS=$DAXMON_RESULTS_PATH /bin/sh $DAXMON_RESULTS_PATH/job.sh
  rc=$?
  echo $rc > /results/job.rc
  echo "${MARKERS.done} rc=$rc $(cut -d' ' -f1 /proc/uptime)" > /dev/console
  sync
  poweroff -f ) 2>&1 | tee /results/job.log
poweroff -f
sleep 10
`;
}

export interface Share {
  hostPath: string;
  readonly: boolean;
}

export interface GuestEnv {
  resultsPath: string;
  shares: readonly Share[];
  network: boolean;
}

const SAFE_PATH = /^\/[A-Za-z0-9._+@/-]*$/;

/** guest.env is sourced by busybox sh: paths are checked, not quoted, so a bad one fails loudly here. */
export function renderGuestEnv(env: GuestEnv): { text: string; tags: { tag: string; share: Share }[] } {
  const tags = env.shares.map((share, i) => ({ tag: `dxs${i}`, share }));
  for (const p of [env.resultsPath, ...env.shares.map((s) => s.hostPath)]) {
    if (!SAFE_PATH.test(p)) {
      throw new Error(
        `path ${JSON.stringify(p)} cannot be shared with the guest: use letters, digits and ._+@/- only`,
      );
    }
  }
  const shares = tags.map((t) => `${t.tag}:${t.share.hostPath}:${t.share.readonly ? 'ro' : 'rw'}`).join(' ');
  const text =
    [
      `DAXMON_RESULTS_PATH=${env.resultsPath}`,
      `DAXMON_SHARES='${shares}'`,
      `DAXMON_NET=${env.network ? 1 : 0}`,
    ].join('\n') + '\n';
  return { text, tags };
}
