# The Baton API (and its Kafka bridge when KAFKA_BROKERS is set), run the way `pnpm start` runs it:
# TypeScript through tsx, no build step. Configuration is environment variables (DESIGN §10).
FROM node:20-bookworm-slim

# pnpm from npm: corepack's shim can fail its signature check behind some proxies.
RUN npm install -g pnpm@10.34.9 && npm cache clean --force

WORKDIR /app
# The whole workspace: pnpm's frozen lockfile expects every workspace package it lists.
COPY . .
RUN pnpm install --frozen-lockfile && pnpm store prune

ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    BATON_DATA_DIR=/data \
    KAFKAJS_NO_PARTITIONER_WARNING=1
# Used only when DATABASE_URL is unset (embedded PGlite).
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
EXPOSE 8080
USER node
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
CMD ["pnpm", "start"]
