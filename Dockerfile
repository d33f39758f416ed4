# ferrobar's container image, laid out as Crossbar's (crossbario/crossbar): the node directory
# is /node, its config /node/.crossbar/config.json, the default transport on port 8080. So the
# line that runs Crossbar on a node directory runs ferrobar on it:
#
#   docker build -t ferrobar .
#   docker run -v $PWD:/node -p 8080:8080 ferrobar
#   docker run -p 8080:8080 ferrobar            # no config: the built-in default node
#                                               # (realm1, anonymous, ws://HOST:8080/ws)
#
# The node writes /node/.crossbar/node.pid, so the mounted directory must be writable by the
# user the container runs as (uid 1000 here; `--user $(id -u):$(id -g)` runs it as yours).
# Untested where this was written (no Docker engine on that machine); see README.

# ---- build stage: the release binary, from the locked dependencies
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin ferrobar \
    && strip target/release/ferrobar \
    && ./target/release/ferrobar version

# ---- runtime stage: glibc, CA certificates, the binary, an unprivileged user
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 1000 --user-group --home-dir /node --no-create-home --shell /usr/sbin/nologin ferrobar \
    && mkdir -p /node \
    && chown ferrobar:ferrobar /node
COPY --from=build /src/target/release/ferrobar /usr/local/bin/ferrobar
USER ferrobar
WORKDIR /node
VOLUME /node
EXPOSE 8080
# SIGTERM (docker stop): every session gets GOODBYE wamp.close.system_shutdown, exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["ferrobar"]
CMD ["start", "--cbdir", "/node/.crossbar"]
