# syntax=docker/dockerfile:1
# One image for both production processes: the api (default command) and the worker
# (`node dist/src/worker.js`), compiled JavaScript on the current Node LTS, run as `node`.
# Build: docker build -t agent-webhooks . — the same `npm run build` as on a workstation.

# Node 24 LTS: the newest LTS line in @temporalio 1.24's tested range. Override with
# --build-arg NODE_IMAGE=… (keep a bookworm-slim, glibc base: the SDK's native binary needs it).
ARG NODE_IMAGE=node:24-bookworm-slim

# --- build: TypeScript → dist/, plus the prebuilt workflow bundle -----------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
RUN npm run build

# --- console: the web console (web/ → web/dist), built with the dev dependencies -------------
FROM ${NODE_IMAGE} AS console
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY web ./web
COPY sdk ./sdk
COPY scripts/buildConsole.ts ./scripts/
RUN node --import tsx scripts/buildConsole.ts --force

# --- deps: production node_modules, with only this platform's Temporal core-bridge binary ------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
  && npm cache clean --force \
  && case "$(node -p process.arch)" in \
       x64) keep=x86_64-unknown-linux-gnu ;; \
       arm64) keep=aarch64-unknown-linux-gnu ;; \
       *) echo "unsupported architecture: $(node -p process.arch)" >&2; exit 1 ;; \
     esac \
  && test -f "node_modules/@temporalio/core-bridge/releases/$keep/index.node" \
  && find node_modules/@temporalio/core-bridge/releases -mindepth 1 -maxdepth 1 ! -name "$keep" -exec rm -rf {} + \
  && rm -rf node_modules/@temporalio/core-bridge/sdk-core

# --- runtime ------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# NODE_OPTIONS: V8 heap limits of the api and the worker (and of each of the worker's two workflow
# threads, which take the same flags). Node's defaults follow the host (≈4 GiB old space on a big
# one, 16 MiB semi-spaces), so garbage piles up for hundreds of MiB before a full collection and
# each of the three heaps keeps a 32 MiB young generation; 512 MiB is ample for the live heaps
# (tens of MiB) and 4 MiB semi-spaces cost no measurable CPU here (BENCHMARKS.md "Memory").
# Override per deployment.
ENV NODE_ENV=production \
    APP_ENV=production \
    NODE_OPTIONS="--max-old-space-size=512 --max-semi-space-size=4" \
    WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js
WORKDIR /app
# Owned by root, read-only to the `node` user (uid 1000) that runs the processes.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY --from=build /app/dist ./dist
COPY --from=console /app/web/dist ./web/dist
USER 1000:1000
# 3000: the api; 9464: the worker's /metrics, /healthz and /readyz.
EXPOSE 3000 9464
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["node", "dist/src/healthcheck.js"]
CMD ["node", "dist/src/main.js"]
