# Multi-stage build of the apiscope binary. The sensor links libpcap (cgo).
FROM golang:1.26-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpcap-dev libcap2-bin && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o /out/apiscope ./cmd/apiscope \
 && setcap cap_net_raw,cap_net_admin+eip /out/apiscope

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpcap0.8 ca-certificates && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/apiscope --create-home apiscope
COPY --from=build /out/apiscope /usr/local/bin/apiscope
USER apiscope
WORKDIR /var/lib/apiscope
ENTRYPOINT ["/usr/local/bin/apiscope"]
CMD ["--help"]
