# Images of purelb-ts: the allocator and the node agent, from one build context (the repository root).
#   docker build --target allocator -t purelb-ts-allocator:0.1.0 .
#   docker build --target agent     -t purelb-ts-agent:0.1.0 .
# Node 24 on Debian 12 (bookworm), the release whose bird2/frr/gobgpd the project is tested with.
# Built without a registry or Docker engine by scripts/images.sh (podman, local stand-ins for the two bases).

# Layers go from the least to the most often changed: base, npm dependencies, (agent) Debian packages, then
# the program, so a source change rebuilds and ships only the last few small layers of both images.
# The program is src/ compiled to JavaScript ahead of time (stage build, scripts/build.ts): Node then
# loads no run-time TypeScript stripper, about 30 MiB less RSS per process (BENCHMARKS.md, Node agent).

# TypeScript at the version package-lock.json pins, and nothing else: the build only emits (the types are
# checked by `npm run typecheck`). Its own stage, so neither image carries the compiler; the install
# layer is rebuilt only when the lockfile changes, the compile whenever src/ does.
FROM node:24-bookworm-slim AS build
WORKDIR /build
COPY package-lock.json ./
RUN npm install --no-save --no-package-lock --ignore-scripts --no-audit --no-fund \
      "typescript@$(node -p "require('./package-lock.json').packages['node_modules/typescript'].version")" \
 && npm cache clean --force
COPY package.json tsconfig.json tsconfig.build.json ./
COPY scripts/build.ts ./scripts/
COPY src ./src
RUN node scripts/build.ts dist

FROM node:24-bookworm-slim AS app
WORKDIR /app
COPY package.json package-lock.json ./
# production dependencies only (no jest, no typescript, no pinned "node" package: the image has Node 24).
# Their TypeScript sources, type declarations and source maps are never loaded (Node does not strip types
# under node_modules): about half of the 107 MB, @kubernetes/client-node's .d.ts files above all.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force \
 && find node_modules -type f \( -name '*.ts' -o -name '*.mts' -o -name '*.cts' -o -name '*.map' \) -delete

# IPAM only: no network tools, runs as nobody.
FROM app AS allocator
COPY bin ./bin
COPY --from=build /build/dist ./dist
COPY templates ./templates
COPY crds ./crds
USER 65534:65534
# --optimize-for-size as in the agent below: the allocator addressing 10,000 Services measured 100-101 MiB
# RSS 10 s after the last instead of 131. --jitless (V8 interprets, its compilers never load; no
# WebAssembly, which nothing here uses): 86 MiB, 101 at most while 43 Services/s were created, with no
# slower addressing (BENCHMARKS.md, "Memory: where it goes"). The agent keeps its compilers (CPU per node).
ENTRYPOINT ["node", "--jitless", "--optimize-for-size", "/app/bin/purelb.js"]

# GoBGP's .proto files, loaded at run time from the path Debian installs them to (never vendored).
FROM debian:bookworm-slim AS gobgp-protos
RUN apt-get update && apt-get install -y --no-install-recommends golang-github-osrg-gobgp-dev \
 && rm -rf /var/lib/apt/lists/*

# Node agent: iproute2 (ip -json / ip -batch), python3 (gratuitous ARP / unsolicited NA helper),
# the routing daemons' own checkers and clients (bird -p, vtysh --dryrun, frr-reload.py), and gobgpd
# and FRR's daemons for the sidecars of deploy/purelb/overlays/{gobgp,frr}, which run this same image.
# frr/frrvty get fixed ids first (Debian's postinst keeps existing system accounts), so the DaemonSet can
# give the agent the frrvty group (supplementalGroups) for FRR's vty sockets.
# The DaemonSet runs the agent as root with only NET_ADMIN + NET_RAW; the image default stays non-root.
FROM app AS agent
RUN groupadd --system --gid 185 frrvty && groupadd --system --gid 192 frr \
 && useradd --system --uid 192 --gid frr --groups frrvty --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin frr \
 && apt-get update && apt-get install -y --no-install-recommends \
      iproute2 python3 bird2 frr frr-pythontools gobgpd \
 && rm -rf /var/lib/apt/lists/*
COPY --from=gobgp-protos /usr/share/gocode/src/github.com/osrg/gobgp/api/ /usr/share/gocode/src/github.com/osrg/gobgp/api/
COPY bin ./bin
COPY --from=build /build/dist ./dist
COPY templates ./templates
COPY crds ./crds
USER 65534:65534
# --optimize-for-size: V8 grows the heap less eagerly (the agent with 10,000 Services measured 108-145 MiB
# RSS instead of 147-174, for about one point of a core more); Node refuses it in NODE_OPTIONS, so it is
# here, and the manifests' NODE_OPTIONS add the heap limit and the young generation's size.
ENTRYPOINT ["node", "--optimize-for-size", "/app/bin/purelb.js"]
