# edge-infer node image: a multi-stage build, a small runtime image with only the binary.
#
#   docker build -t edge-infer .                                    # tract only
#   docker build -t edge-infer --build-arg FEATURES=onnxruntime .  # + ONNX Runtime (bring its library: see docs/deployment.md)
#
# The node listens on 0.0.0.0:8080, keeps its node-local state (compile cache, blob cache, or the whole store
# for a single node) in /data, and reads /etc/edge-infer/node.toml when mounted there.

FROM rust:1.95-bookworm AS build
ARG FEATURES=""
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p edge-infer ${FEATURES:+--features "$FEATURES"} \
    && cp target/release/edge-infer /edge-infer

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --create-home edge-infer
COPY --from=build /edge-infer /usr/local/bin/edge-infer
USER 10001
ENV EDGE_INFER_LISTEN=0.0.0.0:8080 \
    EDGE_INFER_DATA_DIR=/data \
    EDGE_INFER_LOG_FORMAT=json
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["edge-infer"]
CMD ["serve"]
