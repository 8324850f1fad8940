# daxmon for DAX test hosts. No Docker engine runs on the development machines, so CI runs the
# very same build script (scripts/image-build.sh) on a clean checkout instead of this file.
# The image holds the daemon only: the VM lab (lab/) is left out by .dockerignore, and `daxmon lab`
# in the image says so (DAXMON_E_LAB_NOT_INSTALLED).
#
# Run (probes need the host's kernel, BPF and tracefs):
#   docker run --rm --privileged --pid=host -p 127.0.0.1:9464:9464 \
#     -v /sys/kernel:/sys/kernel -v /var/lib/daxmon:/var/lib/daxmon daxmon
FROM node:20-bookworm
WORKDIR /opt/daxmon
COPY . .
RUN bash scripts/image-build.sh
VOLUME ["/var/lib/daxmon"]
EXPOSE 9464
ENTRYPOINT ["node", "/opt/daxmon/dist/cli.js"]
CMD ["run", "--listen", "0.0.0.0:9464", "--journal-dir", "/var/lib/daxmon"]
