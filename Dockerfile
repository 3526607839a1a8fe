# Primerka: the Mini App (built with Node) + the Rust server, in one small Debian image.
# Build:  docker build -t primerka .      Run: docker compose up -d  (see docs/DEPLOY.md)

# 1. The Mini App.
FROM node:20-bookworm-slim AS frontend
WORKDIR /app/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

# 2. Rust dependencies cached separately from the sources (cargo-chef).
FROM rust:1-bookworm AS chef
RUN cargo install cargo-chef --locked
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
RUN cargo chef cook --release --recipe-path recipe.json
COPY . .
RUN cargo build --release --bin primerka --bin primerka-sim

# 3. Runtime: no compiler, no sources, a non-root user.
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /app primerka
WORKDIR /app
COPY --from=builder /app/target/release/primerka /app/target/release/primerka-sim /usr/local/bin/
COPY config ./config
COPY assets ./assets
COPY --from=frontend /app/frontend/dist ./frontend/dist
RUN mkdir -p /app/data/storage && chown -R primerka /app/data
USER primerka
ENV APP_ENV=production PORT=8080 APP__STORAGE__LOCAL_DIR=/app/data/storage RUST_LOG=primerka=info,tower_http=info
EXPOSE 8080
VOLUME ["/app/data"]
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 CMD curl -fs http://127.0.0.1:8080/healthz || exit 1
CMD ["primerka"]
