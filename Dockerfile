# syntax=docker/dockerfile:1
# The store's two binaries, `server` and `sync`, in one small runtime image.
#   docker build -t store .
#   docker run --rm -p 8080:8080 -e APP__HTTP__HOST=0.0.0.0 store              # server serve
#   docker run --rm store sync run --once                                      # the fetcher
# No HEALTHCHECK here: the image serves two programs (the server on 8080, the sync worker's
# metrics on sync.metrics_addr) and holds no HTTP client; docker-compose.yml and the
# Kubernetes manifests probe /healthz and /readyz over HTTP instead.

ARG RUST_VERSION=1
ARG CARGO_CHEF_VERSION=0.1.71

# ---- dependency plan (changes only when Cargo.toml/Cargo.lock change) -------------------
FROM rust:${RUST_VERSION}-bookworm AS chef
ARG CARGO_CHEF_VERSION
RUN cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}"
WORKDIR /build

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# ---- build: dependencies first (cached layer), then the workspace -----------------------
FROM chef AS builder
COPY --from=planner /build/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json -p server -p sync
COPY . .
RUN cargo build --release --locked -p server -p sync \
 && install -D -m 0755 target/release/server /out/server \
 && install -D -m 0755 target/release/sync /out/sync

# ---- runtime ----------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 store \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/store --create-home \
      --shell /usr/sbin/nologin store
COPY --from=builder /out/server /out/sync /usr/local/bin/
WORKDIR /var/lib/store
USER 10001:10001
# Listen on every interface inside the container (the default, 127.0.0.1, is for a laptop).
ENV APP__HTTP__HOST=0.0.0.0 \
    APP__HTTP__PORT=8080 \
    APP__LOG__FORMAT=json
EXPOSE 8080
ENTRYPOINT []
CMD ["server", "serve"]
