# daxmon for DAX test hosts. No Docker engine runs on the development machines, so CI runs the
# very same build script (scripts/image-build.sh) on a clean checkout instead of this file, and
# test/deploy/dockerfile.test.ts checks this file's structure.
#
# Two stages. `build` runs scripts/image-build.sh as CI does (compilers, headers, npm dev
# dependencies). The final stage carries only what the daemon runs: Node, dist/, the production
# node_modules, bpf/build (loader, scanner, checker, objects, daxmon-caps), the bpftrace snippets
# and the libraries the helpers link; no compiler, no test, no lab (.dockerignore leaves lab/ and
# test/ out of the context; `daxmon lab` in the image says DAXMON_E_LAB_NOT_INSTALLED).
#
# It runs as the non-root user `daxmon` with no capability of its own: scripts/install-caps.sh
# gives bpf/build/daxmon-caps file capabilities, and it hands each helper only its set
# (docs/privileges.md). The container needs those capabilities in its bounding set (no need for
# a privileged container), and must not set no-new-privileges (it would void the file capabilities).
# It listens on loopback; with --network host that is the host's loopback:
#   docker run --rm --network host --pid=host \
#     --cap-drop ALL --cap-add BPF --cap-add PERFMON --cap-add SYSLOG --cap-add SYS_ADMIN --cap-add DAC_READ_SEARCH \
#     -v /sys/kernel:/sys/kernel:ro -v /var/lib/daxmon:/var/lib/daxmon daxmon
# (the volume owned by the image's daxmon uid; an engine older than 20.10 may also need
# --security-opt seccomp=unconfined, its default profile allowing bpf() only with CAP_SYS_ADMIN).
# To serve elsewhere, say so: ... daxmon run --backend libbpf --listen 0.0.0.0:9464 ...
# The bpftrace backend refuses a non-root euid: run the image with --user 0 for it.

FROM node:20-bookworm AS build
WORKDIR /opt/daxmon
COPY . .
RUN bash scripts/image-build.sh && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
# Run-time libraries of the helpers (libbpf1, libelf1, zlib1g), setcap for install-caps.sh, and
# bpftrace for `--user 0 ... --backend bpftrace`. --no-install-recommends keeps clang/gcc out.
RUN apt-get update -q \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
     libbpf1 libelf1 zlib1g libcap2-bin bpftrace \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/daxmon
COPY --from=build /opt/daxmon/package.json ./
COPY --from=build /opt/daxmon/dist ./dist
COPY --from=build /opt/daxmon/view ./view
COPY --from=build /opt/daxmon/node_modules ./node_modules
COPY --from=build /opt/daxmon/bpf/build ./bpf/build
COPY --from=build /opt/daxmon/bpf/bpftrace ./bpf/bpftrace
COPY --from=build /opt/daxmon/scripts/install-caps.sh ./scripts/install-caps.sh
# The user, the launcher's group, mode and file capabilities: the install step of a host.
RUN bash scripts/install-caps.sh \
  && rm -f bpf/build/*.skel.h \
  && mkdir -p /var/lib/daxmon && chown daxmon:daxmon /var/lib/daxmon && chmod 0750 /var/lib/daxmon
ENV DAXMON_CAPS_LAUNCHER=/opt/daxmon/bpf/build/daxmon-caps
USER daxmon
VOLUME ["/var/lib/daxmon"]
EXPOSE 9464
ENTRYPOINT ["node", "/opt/daxmon/dist/cli.js"]
CMD ["run", "--backend", "libbpf", "--listen", "127.0.0.1:9464", "--journal-dir", "/var/lib/daxmon"]
