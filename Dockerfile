# Build stage: compile the release binary. Dependencies are built first in a
# layer of their own (from Cargo.toml and Cargo.lock alone, over stand-in
# sources), so that a change to the code does not rebuild them. A failure
# there is a failure of the build: nothing is hidden.
FROM rust:1.88-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# Stand-ins for every target Cargo.toml names (the test target is never
# built here, but its file must exist).
RUN mkdir -p src tests/api \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs tests/api/main.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src src
COPY migrations migrations
RUN touch src/main.rs src/lib.rs && cargo build --release --locked

# Runtime stage: a slim image with the binary alone, run as a non-root user.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home emporium
COPY --from=build /src/target/release/emporium /usr/local/bin/emporium
USER emporium
ENV BIND_ADDR=0.0.0.0:3000
EXPOSE 3000
# `emporium healthcheck` asks /health/live on BIND_ADDR: no curl in the image.
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=12 \
    CMD ["emporium", "healthcheck"]
ENTRYPOINT ["emporium"]
CMD ["serve"]
