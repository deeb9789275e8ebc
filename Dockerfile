# syntax=docker/dockerfile:1
# gatehouse in a container: built from this checkout with the same script CI runs
# (scripts/build-release.sh), run as a non-root user on a slim Debian base.
#
#   docker build -t gatehouse .
#   docker run -d --name gatehouse -p 80:80 -p 443:443 \
#     -v "$PWD/config:/etc/gatehouse:ro" -v gatehouse-state:/var/lib/gatehouse gatehouse
#
# Mount the directory that holds gatehouse.yaml, not the file alone: an editor that saves by
# replacing the file would leave a single-file mount on the old one, unseen by the reload.
#   docker kill --signal HUP gatehouse     # reload (it also reloads when the file changes)
#
# `gatehouse init --domain example.com --upstream app:3000 --output gatehouse.yaml` writes a
# starter config. State (ACME account and certificates, probe and incident history) goes to
# the /var/lib/gatehouse volume: $STATE_DIRECTORY is the default state_dir. The health check
# asks the admin listener's /readyz (keep `admin.listen` on 127.0.0.1:9901, the default, or
# change HEALTHCHECK). `docker stop` sends SIGTERM: /readyz turns 503 and in-flight requests
# finish within server.grace_period (10 s by default, Docker waits 10 s: raise it with
# --stop-timeout for a longer grace period).

ARG RUST_VERSION=1.95
ARG DEBIAN=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN} AS build
WORKDIR /src
COPY . .
RUN bash scripts/build-release.sh /dist

FROM debian:${DEBIAN}-slim
# ca-certificates: the notifiers, ACME, OTLP and Sentry trust the system's roots.
# The binary may bind ports below 1024 as a non-root user (CAP_NET_BIND_SERVICE as a file
# capability; Docker also lets any user bind them by default). With `--cap-drop ALL`, add
# `--cap-add NET_BIND_SERVICE`, or listen on ports above 1024 and publish them as 80/443.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libcap2-bin \
    && groupadd --system --gid 10001 gatehouse \
    && useradd --system --uid 10001 --gid gatehouse --home-dir /var/lib/gatehouse \
       --shell /usr/sbin/nologin gatehouse \
    && install -d -o root -g gatehouse -m 0750 /etc/gatehouse \
    && install -d -o gatehouse -g gatehouse -m 0700 /var/lib/gatehouse
COPY --from=build /dist/gatehouse /usr/local/bin/gatehouse
COPY --from=build /dist/completions/gatehouse.bash /usr/share/bash-completion/completions/gatehouse
COPY --from=build /dist/gatehouse.schema.json /usr/share/gatehouse/gatehouse.schema.json
RUN setcap cap_net_bind_service=+ep /usr/local/bin/gatehouse \
    && apt-get purge -y libcap2-bin && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*

ENV STATE_DIRECTORY=/var/lib/gatehouse
VOLUME ["/etc/gatehouse", "/var/lib/gatehouse"]
USER gatehouse:gatehouse
WORKDIR /var/lib/gatehouse
EXPOSE 80 443
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["gatehouse", "health", "--timeout", "4"]
ENTRYPOINT ["gatehouse"]
CMD ["run", "--config", "/etc/gatehouse/gatehouse.yaml"]
