# syntax=docker/dockerfile:1
# Build: a static pgo binary. Run: distroless static, non-root, nothing else inside.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.Version=${VERSION}" -o /out/pgo ./cmd/pgo

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/pgo /pgo
USER nonroot:nonroot
EXPOSE 8443
ENTRYPOINT ["/pgo"]
CMD ["serve"]
