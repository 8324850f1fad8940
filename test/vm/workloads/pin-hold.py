# The E2E workload of test/vm/prometheus.vm.test.ts, run in the guest by the lab (argv[1]: the
# results folder, shared with the host). Once daxmon is ready: a few map/write/unmap/truncate rounds,
# then 16 pages of a mapped FS DAX file pinned by vmsplice into a pipe nobody reads, and a child
# truncating the file, which waits in the layout break for the pinned pages. The mapping is kept.
# The host releases the pin by creating <results>/e2e-release; then the pipe is drained, the truncate
# finishes, and the rounds go on until the lab stops. Python with ctypes, so no build step.
import ctypes
import fcntl
import json
import mmap
import os
import sys
import time
import urllib.request

RESULTS = sys.argv[1]
MNT = os.environ.get("DAX_MNT", "/mnt/dax")
PAGE = 4096
PINNED = 16
F_SETPIPE_SZ = 1031


def log(msg, **kw):
    print(json.dumps({"t": round(time.time(), 3), "msg": msg, **kw}), flush=True)


def daxmon_ready():
    try:
        with urllib.request.urlopen("http://127.0.0.1:9464/readyz", timeout=5) as r:
            return r.status == 200
    except Exception:
        return False


def written_file(path, pages):
    # Blocks allocated by write(2) before any mapping: faults then map, never allocate.
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, b"\1" * (pages * PAGE))
    os.fsync(fd)
    return fd


def mapped(fd, pages):
    m = mmap.mmap(fd, pages * PAGE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    m.madvise(mmap.MADV_NOHUGEPAGE)
    for i in range(pages):
        m[i * PAGE] = 2
    return m


def demo_round(path):
    fd = written_file(path, 256)
    m = mapped(fd, 256)
    m.close()
    os.ftruncate(fd, 0)
    os.close(fd)


libc = ctypes.CDLL(None, use_errno=True)


class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


libc.vmsplice.argtypes = [ctypes.c_int, ctypes.POINTER(IoVec), ctypes.c_ulong, ctypes.c_uint]
libc.vmsplice.restype = ctypes.c_ssize_t

deadline = time.time() + 600
while not daxmon_ready():
    if time.time() > deadline:
        log("daxmon never became ready")
        sys.exit(1)
    time.sleep(1)
log("daxmon ready")

demo = os.path.join(MNT, "e2e-demo")
for _ in range(3):
    demo_round(demo)
log("demo rounds done")

path = os.path.join(MNT, "e2e-pinned")
fd = written_file(path, 256)
m = mapped(fd, 256)
buf = (ctypes.c_char * (256 * PAGE)).from_buffer(m)
rfd, wfd = os.pipe()
fcntl.fcntl(wfd, F_SETPIPE_SZ, 1 << 20)
iov = IoVec(ctypes.addressof(buf), PINNED * PAGE)
pinned = libc.vmsplice(wfd, ctypes.byref(iov), 1, 0)
if pinned != PINNED * PAGE:
    log("vmsplice failed", ret=pinned, errno=ctypes.get_errno())
    sys.exit(1)

t0 = time.time()
child = os.fork()
if child == 0:
    os.truncate(path, 0)
    os._exit(0)
time.sleep(2)
blocked = os.waitpid(child, os.WNOHANG) == (0, 0)
log("truncate started", blocked=blocked, pinned_bytes=pinned)

release = os.path.join(RESULTS, "e2e-release")
while not os.path.exists(release) and time.time() - t0 < 900:
    time.sleep(0.5)
t_release = time.time()
drained = 0
while drained < pinned:
    chunk = os.read(rfd, 65536)
    if not chunk:
        break
    drained += len(chunk)
os.waitpid(child, 0)
log(
    "released",
    held_s=round(t_release - t0, 1),
    truncate_done_after_release_s=round(time.time() - t_release, 2),
    drained_bytes=drained,
)
del buf
m.close()
os.close(fd)

# One round every 5 s keeps the rate panels fed and leaves the emulated guest time to answer the
# last scrapes: with a round every second, on a host loaded with a CPU hog and other builds, no
# scrape of daxmon succeeded after the release (the rounds are the only load then).
while True:
    demo_round(demo)
    time.sleep(5)
