# syntax=docker/dockerfile:1
# One image for both production processes: `npm run api` (default) and `npm run worker`.

FROM node:20.20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

# The web console (web/ → web/dist), built with the dev dependencies that the runtime image leaves out.
FROM node:20.20-bookworm-slim AS console
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY web ./web
COPY sdk ./sdk
COPY scripts/buildConsole.ts ./scripts/
RUN node --import tsx scripts/buildConsole.ts --force

FROM node:20.20-bookworm-slim AS runtime
ENV NODE_ENV=production APP_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
COPY --from=console /app/web/dist ./web/dist
# Workers load this instead of bundling workflows/ at every start (seconds of CPU per restart).
RUN node --import tsx src/bundleWorkflows.ts /app/workflow-bundle.js
ENV WORKFLOW_BUNDLE_PATH=/app/workflow-bundle.js
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "--import", "tsx", "src/main.ts"]
