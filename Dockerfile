# Tether in a container: built once (TypeScript -> dist/), run by plain node as the unprivileged
# `node` user, with production dependencies only. `docker compose up` (compose.yaml) runs two behind nginx.

# ---- build: the same steps as `make build` ----
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY server ./server
COPY rpc-methods ./rpc-methods
COPY sql ./sql
COPY console ./console
# Migrations are read relative to the module (dist/server/stores -> dist/sql): a copy, not `make build`'s link.
# The console's files are built into dist/console (esbuild, a devDependency, before the prune).
RUN npx tsc -p tsconfig.build.json && cp -r sql dist/sql && node --import tsx console/build.ts dist/console && npm prune --omit=dev --no-audit --no-fund

# ---- run ----
FROM node:20-bookworm-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8069 DATA_DIR=/app/data
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 8069
HEALTHCHECK --interval=10s --timeout=3s CMD ["node", "-e", "fetch('http://127.0.0.1:8069/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/server/main.js"]
