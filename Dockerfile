# The spool image: one static binary FROM scratch (no base image, nothing to pull).
#
# Build it with scripts/docker-image, which builds the static binary and stages the
# image's files in target/docker/context/ (this file only copies them):
#
#   scripts/docker-image                                   # -> spool:dev
#   docker run --rm -p 127.0.0.1:9092:9092 spool:dev       # a single-node cluster
#
# The entrypoint is the spool binary, so the same image runs the tools:
#   docker run --rm --network host spool:dev topics --list --bootstrap-server localhost:9092
FROM scratch

# The binary, /etc/nsswitch.conf (hosts: files dns), /etc/passwd and /etc/group.
COPY target/docker/context/rootfs/ /
# The data directory, owned by the user the server runs as; a new named volume
# mounted here starts with this owner. A bind-mounted directory must be writable
# by uid 65532 (or run with --user).
COPY --chown=65532:65532 target/docker/context/data/ /data/

USER 65532:65532
# Plain log lines: `docker logs` is not a terminal.
ENV NO_COLOR=1
WORKDIR /data
VOLUME ["/data"]
# 9092: the Kafka listener; 9093: the controller (metadata quorum) listener.
EXPOSE 9092 9093

ENTRYPOINT ["/spool"]
# A single-node cluster that clients on the Docker host reach through a port
# published as -p 127.0.0.1:9092:9092. For a cluster, pass the server flags instead
# (see docker-compose.yml).
CMD ["server", "--data-dir", "/data", "--listen", "0.0.0.0:9092", "--advertised-listen", "localhost:9092"]
