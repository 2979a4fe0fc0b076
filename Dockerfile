# The orgops controller image: a static (musl) binary on distroless/static, running as
# non-root. Build from the repository root: docker build -t orgops .
FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/*
RUN rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p orgops --target x86_64-unknown-linux-musl \
 && cp target/x86_64-unknown-linux-musl/release/orgops /orgops

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /orgops /orgops
USER 65532:65532
ENTRYPOINT ["/orgops"]
CMD ["run"]
