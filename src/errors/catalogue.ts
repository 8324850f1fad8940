/**
 * Every error code daxmon has, in one place (fastify's `FST_ERR_*` catalogue is the model). A code
 * is stable: scripts, CI logs and alert rules match on it, so it is never renamed or reused. The
 * CLI, the log and the HTTP API all take the code from here, docs/errors.md shows these tables
 * (test/docs/errors.test.ts keeps the two equal), and `ErrorCode` makes a mistyped code a compile
 * error at the throw site.
 *
 * This module imports nothing, so any part of daxmon (the VM lab included, wherever it lives) can
 * depend on it without pulling in the rest.
 */

/** Which part of daxmon reports the code; docs/errors.md has one table per area. */
export type ErrorArea = 'cli' | 'journal' | 'kernel' | 'libbpf' | 'bpftrace' | 'scan' | 'api' | 'vm';

export interface ErrorInfo {
  readonly area: ErrorArea;
  /** What went wrong, in the user's terms. */
  readonly meaning: string;
  /** What the user can do about it. */
  readonly whatToDo: string;
  /** Exit status of the CLI when this error ends a command (default 2). */
  readonly exitCode?: number;
  /** HTTP status the API answers with (API codes only). */
  readonly httpStatus?: number;
}

/** Exit status for an error that ends a command, unless its catalogue entry says otherwise. */
export const DEFAULT_EXIT_CODE = 2;

export const CATALOGUE = {
  // ---- command line and configuration ----------------------------------------------------------
  DAXMON_E_USAGE: {
    area: 'cli',
    meaning: 'an unknown command or option, a missing or malformed option value',
    whatToDo: '`daxmon <command> --help`',
  },
  DAXMON_E_OUTPUT_WRITE: {
    area: 'cli',
    meaning: 'a file a command was told to write (`kconfig --out`) cannot be written',
    whatToDo: 'check the path exists and is writable, or print to stdout and redirect',
  },
  DAXMON_E_INPUT: {
    area: 'cli',
    meaning:
      '`replay`: the file cannot be opened, or is not a daxmon event stream (no schema header, wrong schema version)',
    whatToDo: 'record with `daxmon record`; see `docs/events.md`',
  },
  DAXMON_E_INPUT_EMPTY: {
    area: 'cli',
    meaning: '`replay`: the input is empty (no header, no event)',
    whatToDo: 'check the file name; a recording being written may not have its header yet',
  },
  DAXMON_E_INPUT_SCHEMA: {
    area: 'cli',
    meaning: '`replay`: the header names a schema version this daxmon does not read',
    whatToDo: 'replay it with the daxmon version that recorded it; `docs/events.md` has the schema',
  },
  DAXMON_E_INPUT_HEADER: {
    area: 'cli',
    meaning:
      '`replay`: the header is malformed (binary: no magic, a header length that cannot be, header JSON invalid; NDJSON or binary: `kernel` not `{release, model}`)',
    whatToDo: 'the file is damaged or not a daxmon recording; `docs/events.md` describes the header',
  },
  DAXMON_E_INPUT_NO_MODEL: {
    area: 'cli',
    meaning: '`replay`: the stream has no header naming the refcount model',
    whatToDo: 'pass `--model old|new` for a headerless stream written by hand',
  },
  DAXMON_E_INPUT_CORRUPT: {
    area: 'cli',
    meaning: '`replay`: a binary recording is corrupt at a byte offset; the events before it were replayed',
    whatToDo: 'the file is damaged: the rest of it cannot be read',
  },
  DAXMON_E_LISTEN: {
    area: 'cli',
    meaning: 'the HTTP server cannot listen on `--listen` (address in use, bad address, no permission)',
    whatToDo: 'pick another address/port',
  },
  DAXMON_E_RECORD_OPEN: {
    area: 'cli',
    meaning: '`record --out` / `--record`: the file cannot be created',
    whatToDo: 'check the directory and permissions',
  },
  DAXMON_E_API_TOKEN: {
    area: 'cli',
    meaning: '`--api-token-file` cannot be read or holds fewer than 16 characters',
    whatToDo: 'fix the file, or leave the option out: without a token the API omits kernel addresses',
  },
  DAXMON_E_API_TOKEN_MODE: {
    area: 'cli',
    meaning:
      '`--api-token-file` is readable or writable by its group or by others (the token unlocks kernel addresses)',
    whatToDo: '`chmod 600 <file>` (as ssh asks of a private key)',
  },
  DAXMON_E_STRICT_BACKEND: {
    area: 'cli',
    meaning:
      '`--strict`: a probe backend failed (it exited, or a probe did not attach) and its failure had no code of its own',
    whatToDo: 'the message names the backend, its exit and the probes that did not attach; `daxmon doctor`',
  },
  DAXMON_E_NO_BACKEND: {
    area: 'cli',
    meaning: '`--strict`: no probe backend can run on this host',
    whatToDo: '`daxmon doctor` says why per backend',
  },

  // ---- violation journal -------------------------------------------------------------------------
  DAXMON_E_JOURNAL_DIR: {
    area: 'journal',
    meaning: 'the journal directory cannot be created or read',
    whatToDo: 'check `--journal-dir` and its permissions',
  },
  DAXMON_E_JOURNAL_WRITE: {
    area: 'journal',
    meaning:
      'a violation could not be appended or fsynced (logged once per episode, every try counted in `daxmon_journal_write_errors_total`)',
    whatToDo:
      'disk full or failing: the violations are served from memory and written, in order, once the disk takes them again (`docs/journal.md`)',
  },

  // ---- reading the kernel (doctor, start-up) -----------------------------------------------------
  DAXMON_E_KALLSYMS_UNREADABLE: {
    area: 'kernel',
    meaning: '`/proc/kallsyms` cannot be read, or shows only zero addresses',
    whatToDo: 'run as root (or with `kernel.kptr_restrict` allowing it)',
  },
  DAXMON_E_BTF_MISSING: {
    area: 'kernel',
    meaning: '`/sys/kernel/btf/vmlinux` is absent or unreadable',
    whatToDo: 'a kernel built with `CONFIG_DEBUG_INFO_BTF`; the libbpf backend needs it',
  },
  DAXMON_E_BTF_INVALID: {
    area: 'kernel',
    meaning: 'the BTF blob is malformed',
    whatToDo: 'report it with the kernel release',
  },
  DAXMON_E_TRACEFS_NOT_MOUNTED: {
    area: 'kernel',
    meaning: 'tracefs is not mounted',
    whatToDo: '`mount -t tracefs nodev /sys/kernel/tracing`',
  },
  DAXMON_E_TRACEFS_UNREADABLE: {
    area: 'kernel',
    meaning: 'tracefs is mounted but cannot be read',
    whatToDo: 'run as root',
  },
  DAXMON_E_CONFIG_UNREADABLE: {
    area: 'kernel',
    meaning: 'the kernel config (`/boot/config-*`, `/proc/config.gz`) cannot be read',
    whatToDo: 'optional: daxmon falls back to BTF for what it needs',
  },
  DAXMON_E_BPFCHECK_MISSING: {
    area: 'kernel',
    meaning: '`bpf/build/daxmon-bpfcheck` is not built, so program types cannot be probed',
    whatToDo: '`npm run build:bpf`',
  },
  DAXMON_E_BPFCHECK_NO_PRIVILEGE: {
    area: 'kernel',
    meaning: 'loading BPF programs is not permitted',
    whatToDo: 'run the probe side as root or with `CAP_BPF`+`CAP_PERFMON`',
  },
  DAXMON_E_CAPS_LAUNCHER: {
    area: 'kernel',
    meaning:
      'daxmon runs without capabilities and no usable launcher: `DAXMON_CAPS_LAUNCHER` is unset, not absolute, or names no file daxmon may execute',
    whatToDo:
      'run `scripts/install-caps.sh` as root and set `DAXMON_CAPS_LAUNCHER=<install>/bpf/build/daxmon-caps` (deploy/daxmon.service does), or run as root; docs/privileges.md',
  },
  DAXMON_E_CAPS_REFUSED: {
    area: 'kernel',
    meaning:
      '`daxmon-caps` refused to start a helper: not one of its allow-listed helpers, a helper or its directory not owned by root or writable by others, or a capability missing from its permitted set',
    whatToDo:
      "the message says which; reinstall with `scripts/install-caps.sh`, and keep `NoNewPrivileges` off and the helpers' capabilities in the bounding set (docs/privileges.md)",
  },
  DAXMON_E_BPFCHECK_FAILED: {
    area: 'kernel',
    meaning: 'the program-type check itself failed',
    whatToDo: 'the message has its output',
  },
  DAXMON_E_MODEL_OVERRIDE_INVALID: {
    area: 'kernel',
    meaning: '`--model` is not `old` or `new`',
    whatToDo: 'pass `old` (< 6.15) or `new` (≥ 6.15), or leave detection on',
  },
  DAXMON_E_DOCTOR_INTERNAL: {
    area: 'kernel',
    meaning: 'a doctor section could not be computed (`daxmon doctor` exits 1)',
    whatToDo: 'a bug: report it with `daxmon doctor --json`',
  },

  // ---- libbpf backend and its loader (bpf/libbpf/loader.c) -----------------------------------------
  DAXMON_E_LIBBPF_NOT_BUILT: {
    area: 'libbpf',
    meaning: 'the loader or BPF object is missing',
    whatToDo: '`npm run build:bpf` (needs clang, libbpf-dev, bpftool)',
  },
  DAXMON_E_LIBBPF_NO_BTF: {
    area: 'libbpf',
    meaning: 'the CO-RE programs need kernel BTF',
    whatToDo: 'see `DAXMON_E_BTF_MISSING`; or `--backend bpftrace`',
  },
  DAXMON_E_LIBBPF_NO_PROGRAM_TYPE: {
    area: 'libbpf',
    meaning: 'the kernel refuses every program type daxmon uses',
    whatToDo: '`daxmon doctor`',
  },
  DAXMON_E_LIBBPF_NO_PROBES: {
    area: 'libbpf',
    meaning: 'no hook of any probe exists or loads on this kernel',
    whatToDo: '`daxmon doctor`; `docs/probes.md` lists the hooks',
  },
  DAXMON_E_LIBBPF_PROBE_UNAVAILABLE: {
    area: 'libbpf',
    meaning: '`--strict`: a probe cannot attach',
    whatToDo: 'drop `--strict` to run degraded',
  },
  DAXMON_E_LOADER_NO_BTF: {
    area: 'libbpf',
    meaning: 'the loader found no kernel BTF',
    whatToDo: 'as `DAXMON_E_LIBBPF_NO_BTF`',
  },
  DAXMON_E_LOADER_OBJECT: {
    area: 'libbpf',
    meaning: 'the loader cannot open or parse the BPF object',
    whatToDo: 'rebuild: `npm run build:bpf`',
  },
  DAXMON_E_LOADER_LOAD: {
    area: 'libbpf',
    meaning: 'the verifier refused the object',
    whatToDo: "the message carries the verifier's reason; report it with the kernel release",
  },
  DAXMON_E_LOADER_STRICT: {
    area: 'libbpf',
    meaning: '`--strict`: some hooks could not be attached',
    whatToDo: 'drop `--strict`',
  },
  DAXMON_E_LOADER_RINGBUF: {
    area: 'libbpf',
    meaning: 'the ring buffer could not be set up',
    whatToDo: 'memlock limits; run as root',
  },
  DAXMON_E_LOADER_POLL: {
    area: 'libbpf',
    meaning: 'polling the ring buffer failed',
    whatToDo: 'the supervisor restarts the loader and marks the gap',
  },

  // ---- bpftrace backend ----------------------------------------------------------------------------
  DAXMON_E_BPFTRACE_NOT_FOUND: {
    area: 'bpftrace',
    meaning: 'bpftrace is not installed or does not run',
    whatToDo: '`apt-get install bpftrace`, or `--backend libbpf`',
  },
  DAXMON_E_BPFTRACE_NOT_ROOT: {
    area: 'bpftrace',
    meaning:
      'daxmon is not root: bpftrace (0.17, Debian bookworm) refuses a non-zero euid whatever its capabilities, and daxmon-caps does not launch it (it runs any script)',
    whatToDo:
      '`--backend libbpf` (the unprivileged unit and image use it), or run daxmon as root; docs/privileges.md',
  },
  DAXMON_E_BPFTRACE_VERSION: {
    area: 'bpftrace',
    meaning: 'bpftrace is too old or its version unparseable',
    whatToDo: 'bpftrace ≥ the version in the message',
  },
  DAXMON_E_BPFTRACE_NO_PROBES: {
    area: 'bpftrace',
    meaning: 'no bpftrace probe can attach here',
    whatToDo: '`daxmon doctor`',
  },
  DAXMON_E_BPFTRACE_PROBE_UNAVAILABLE: {
    area: 'bpftrace',
    meaning: '`--strict`: a bpftrace probe cannot attach',
    whatToDo: 'drop `--strict`',
  },
  DAXMON_E_BPFTRACE_SNIPPETS_UNREADABLE: {
    area: 'bpftrace',
    meaning: '`bpf/bpftrace/` cannot be read',
    whatToDo: 'reinstall; check the path',
  },
  DAXMON_E_BPFTRACE_SNIPPET_INVALID: {
    area: 'bpftrace',
    meaning: 'a snippet is malformed (bad header, include loop)',
    whatToDo: 'fix the snippet; `docs/bpftrace.md`',
  },
  DAXMON_E_BPFTRACE_SCRIPT_TOO_LARGE: {
    area: 'bpftrace',
    meaning: "the assembled script exceeds bpftrace's limits",
    whatToDo: 'enable fewer probes',
  },

  // ---- struct-page scanner (bpf/libbpf/scan.c, src/scan) -------------------------------------------
  DAXMON_E_SCAN_START: {
    area: 'scan',
    meaning: '`bpf/build/daxmon-scan` cannot be started',
    whatToDo: '`npm run build:bpf`; run as root, or set `DAXMON_CAPS_LAUNCHER` (docs/privileges.md)',
  },
  DAXMON_E_SCAN_OBJECT: {
    area: 'scan',
    meaning: 'the scan object embedded in the binary cannot be opened',
    whatToDo: 'rebuild (`npm run build:bpf`)',
  },
  DAXMON_E_SCAN_LOAD: {
    area: 'scan',
    meaning: 'the kernel refused the scan program (no BTF, no `CAP_BPF`/`CAP_PERFMON`, verifier)',
    whatToDo: 'run as root on a kernel with `/sys/kernel/btf/vmlinux`',
  },
  DAXMON_E_SCAN_TEST_RUN: {
    area: 'scan',
    meaning: '`BPF_PROG_TEST_RUN` of a `raw_tp` program is not allowed here',
    whatToDo: 'needs a 5.17+ kernel (`bpf_loop`) and the privileges above',
  },
  DAXMON_E_SCAN_NO_VMEMMAP: {
    area: 'scan',
    meaning:
      '`vmemmap_base` is not in `/proc/kallsyms` (no `CONFIG_KALLSYMS_ALL`), or its address is hidden (no `CAP_SYSLOG`)',
    whatToDo:
      'run as root or through `daxmon-caps` (docs/privileges.md); on kernels without `KALLSYMS_ALL` scans are not available',
  },
  DAXMON_E_SCAN_REQUEST: {
    area: 'scan',
    meaning: 'the binary got a malformed request on stdin',
    whatToDo: 'a bug: report it',
  },
  DAXMON_E_SCAN_RUN: {
    area: 'scan',
    meaning: 'a batch failed to run',
    whatToDo: 'the message has the pfn and the errno',
  },
  DAXMON_E_SCAN_EXITED: {
    area: 'scan',
    meaning: 'the binary exited while a scan was running',
    whatToDo: 'the message has its stderr; the next interval starts it again',
  },

  // ---- HTTP API ------------------------------------------------------------------------------------
  DAXMON_E_API_QUERY: {
    area: 'api',
    meaning: 'a malformed query parameter (the message names it)',
    whatToDo: 'fix the parameter; `docs/scan.md` and `/` list them',
    httpStatus: 400,
  },
  DAXMON_E_API_NOT_FOUND: {
    area: 'api',
    meaning: 'no such violation, pgmap or route',
    whatToDo: '`/api/pgmaps`, `/api/violations` and `/` list what exists',
    httpStatus: 404,
  },
  DAXMON_E_API_BAD_URL: {
    area: 'api',
    meaning: 'the URL cannot be decoded (a stray `%`, a malformed percent-escape)',
    whatToDo: 'percent-encode the path: `%25` for a literal `%`',
    httpStatus: 400,
  },
  DAXMON_E_API_BODY: {
    area: 'api',
    meaning:
      'a malformed request body (invalid JSON, an empty JSON body, a Content-Length that does not match)',
    whatToDo: 'the API is read-only: send GET requests without a body',
    httpStatus: 400,
  },
  DAXMON_E_API_BODY_TOO_LARGE: {
    area: 'api',
    meaning: 'the request body is larger than the API accepts (16 KiB)',
    whatToDo: 'the API is read-only: send GET requests without a body',
    httpStatus: 413,
  },
  DAXMON_E_API_MEDIA_TYPE: {
    area: 'api',
    meaning: 'a request body of a Content-Type the API does not read',
    whatToDo: 'the API is read-only: send GET requests without a body',
    httpStatus: 415,
  },
  DAXMON_E_API_REQUEST: {
    area: 'api',
    meaning: 'a malformed HTTP request (bad headers, a request line the server cannot parse)',
    whatToDo: 'check the client; `curl http://HOST:PORT/` lists the endpoints',
    httpStatus: 400,
  },
  DAXMON_E_API_TIMEOUT: {
    area: 'api',
    meaning: "the client did not send its whole request within the server's timeout (30 s)",
    whatToDo: 'check the network between the client and daxmon',
    httpStatus: 408,
  },
  DAXMON_E_API_VIOLATION_ROTATED: {
    area: 'api',
    meaning:
      '`/api/violations/:id`: the violation is older than the ones the API keeps (`--retain-violations`); `/api/violations` counts them in `olderOutsideWindow`',
    whatToDo:
      'read it from the journal files (`docs/journal.md`) if they still hold it, or raise `--retain-violations`',
    httpStatus: 404,
  },
  DAXMON_E_API_NO_SCAN: {
    area: 'api',
    meaning:
      '`/api/pgmaps/:id/pages`: the scanner is not running, or has not finished its first scan of that pgmap',
    whatToDo: 'wait for the first scan; `docs/scan.md` says what the scanner needs',
    httpStatus: 503,
  },
  DAXMON_E_API_INTERNAL: {
    area: 'api',
    meaning: 'the request hit a bug',
    whatToDo: 'report it with the daemon log',
    httpStatus: 500,
  },

  // ---- VM lab and kernel matrix (lab/, test/vm) ---------------------------------------------
  DAXMON_E_LAB_NOT_INSTALLED: {
    area: 'vm',
    meaning:
      "`daxmon lab` in a daxmon without its lab: the lab (`lab/`, package `@daxmon/lab`) ships only in the repository, not in the package a DAX host installs (or a checkout's lab is not built)",
    whatToDo: 'run `npm run lab` from a repository checkout (it builds the lab)',
  },
  DAXMON_E_VM_CONFIG: {
    area: 'vm',
    meaning: 'a bad lab/matrix setting (env var, option), or `dist/` not built',
    whatToDo: '`docs/vm-lab.md`; `npm run build`',
  },
  DAXMON_E_VM_TOOL_MISSING: {
    area: 'vm',
    meaning: 'a host tool the lab needs is missing (qemu, busybox, cpio, …)',
    whatToDo: '`bash scripts/install-deps.sh`',
  },
  DAXMON_E_VM_APT: {
    area: 'vm',
    meaning: "Debian's package index or a kernel package could not be fetched",
    whatToDo: "network to Debian's mirror; `DAXMON_VM_OFFLINE=1` uses the cache",
  },
  DAXMON_E_VM_KERNEL_SERIES: {
    area: 'vm',
    meaning: 'an unknown kernel series was asked for',
    whatToDo: '`7`, `6.12` or `6.1`',
  },
  DAXMON_E_VM_USER_KERNEL: {
    area: 'vm',
    meaning:
      '`lab --kernel IMAGE` / `--kernel-tree DIR`: the image, modules or config is missing or unusable (not a bzImage, no config, modules needed but not given)',
    whatToDo:
      'give arch/x86/boot/bzImage with --modules lib/modules/RELEASE and --config .config, or --kernel-tree of a tree after `make` (`docs/vm-lab.md`)',
  },
  DAXMON_E_VM_KERNEL_CONFIG: {
    area: 'vm',
    meaning:
      'the kernel given to the lab lacks config options daxmon or the lab require (FS_DAX, ZONE_DEVICE, BTF, memmap= pmem, 9p, …); the message names each',
    whatToDo:
      'merge `daxmon kconfig` into the config (`scripts/kconfig/merge_config.sh -m .config daxmon.config && make olddefconfig`) and rebuild',
  },
  DAXMON_E_VM_KERNEL_LAYOUT: {
    area: 'vm',
    meaning: 'the kernel package does not have the expected files',
    whatToDo: 'report the package version',
  },
  DAXMON_E_VM_INITRAMFS: {
    area: 'vm',
    meaning: 'the initramfs could not be built',
    whatToDo: 'the message has the failing step',
  },
  DAXMON_E_VM_BUILD: {
    area: 'vm',
    meaning: 'a workload program failed to compile',
    whatToDo: 'needs gcc and libc6-dev (static libc)',
  },
  DAXMON_E_VM_BUILDROOT: {
    area: 'vm',
    meaning: 'debootstrap could not make the trixie build root (lab/src/buildroot.ts)',
    whatToDo: "the message has debootstrap's last lines; rerun (a half-built root is discarded)",
  },
  DAXMON_E_VM_BUILDROOT_NOT_ROOT: {
    area: 'vm',
    meaning: 'making or using the build root needs root (debootstrap, chroot, mounts)',
    whatToDo: 'run as root: `sudo -E npm run lab:buildroot`',
  },
  DAXMON_E_VM_BUILDROOT_MIRROR: {
    area: 'vm',
    meaning: 'the Debian mirror the build root is made from does not answer',
    whatToDo: 'network to deb.debian.org, or `DAXMON_BUILDROOT_MIRROR=URL`',
  },
  DAXMON_E_VM_BUILDROOT_DISK: {
    area: 'vm',
    meaning: 'not enough free space in the cache for the build root (about 1 GiB)',
    whatToDo: 'free space, or point `DAXMON_CACHE` at a larger disk',
  },
  // The guest itself failing is `daxmon lab`'s "daxmon did not answer": exit 1, as its help says.
  DAXMON_E_VM_BOOT: {
    area: 'vm',
    meaning: 'the guest never became ready after every retry',
    whatToDo: '`DAXMON_VM_CONSOLE=1` shows the console',
    exitCode: 1,
  },
  DAXMON_E_VM_TIMEOUT: {
    area: 'vm',
    meaning: 'the guest job ran past its timeout',
    whatToDo: '`DAXMON_VM_JOB_TIMEOUT_MS`',
    exitCode: 1,
  },
} as const satisfies Record<`DAXMON_E_${string}`, ErrorInfo>;

export type ErrorCode = keyof typeof CATALOGUE;

/** The codes of one area: `CodeOf<'kernel'>` is what `KernelReadError` may carry. */
export type CodeOf<A extends ErrorArea> = {
  [K in ErrorCode]: (typeof CATALOGUE)[K]['area'] extends A ? K : never;
}[ErrorCode];

export const ERROR_CODES = Object.keys(CATALOGUE) as ErrorCode[];

export function isErrorCode(s: unknown): s is ErrorCode {
  return typeof s === 'string' && Object.hasOwn(CATALOGUE, s);
}

/** A code of `area`: for codes another program sends (daxmon-scan's error frames). */
export function isCodeOf<A extends ErrorArea>(area: A, s: unknown): s is CodeOf<A> {
  return isErrorCode(s) && CATALOGUE[s].area === area;
}

export function errorInfo(code: ErrorCode): ErrorInfo {
  return CATALOGUE[code];
}

/** The codes of one area, in catalogue order (the VM lab's list, the doc's tables). */
export function codesOf<A extends ErrorArea>(area: A): CodeOf<A>[] {
  return ERROR_CODES.filter((c) => CATALOGUE[c].area === area) as CodeOf<A>[];
}

export function exitCodeOf(code: ErrorCode): number {
  // Looked up defensively: a code can reach here from untyped JavaScript (a guest script, a test).
  // isErrorCode is an own-property test: `constructor` or `__proto__` is no code.
  return isErrorCode(code)
    ? ((CATALOGUE[code] as ErrorInfo).exitCode ?? DEFAULT_EXIT_CODE)
    : DEFAULT_EXIT_CODE;
}
