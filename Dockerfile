# syntax=docker/dockerfile:1

# Node.js 24 is an LTS line. The proxy itself also runs on Node.js 20.18+ and 22.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The build needs the dev dependencies (TypeScript). Pruning afterwards leaves only what the
# runtime stage copies.
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    PORT=8080 \
    SPOOL_DIR=/var/spool/connecteam-upload-proxy
WORKDIR /app

# Application files stay owned by root, so the unprivileged process cannot change its own code.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist

# Disk copies of uploads are the only files the proxy writes. Owning this directory lets the
# container run with a read-only root filesystem once a volume is mounted here.
RUN mkdir -p /var/spool/connecteam-upload-proxy \
    && chown node:node /var/spool/connecteam-upload-proxy
VOLUME ["/var/spool/connecteam-upload-proxy"]

USER node
EXPOSE 8080

# The slim image has no curl or wget, so the check uses Node's own fetch.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz', { signal: AbortSignal.timeout(2000) }).then((res) => process.exit(res.ok ? 0 : 1), () => process.exit(1))"]

# The proxy stops taking uploads on SIGTERM and drains for SHUTDOWN_GRACE_SECONDS. Starting node
# directly (not through npm) makes node PID 1, so the signal reaches it. The flag is the one
# `npm start` passes: a 1 MiB young generation makes V8 collect streamed chunks sooner, which
# keeps resident memory near 100 MiB during large uploads instead of 110-125 (docs/benchmarks.md).
STOPSIGNAL SIGTERM
CMD ["node", "--max-semi-space-size=1", "dist/main.js"]
