# syntax=docker/dockerfile:1
# ClinicPay production image: compiled JavaScript, production dependencies only, non-root.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Install scripts only fetch the embedded dev stack's binaries, which the build does not need.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json openapi.yaml ./
COPY src ./src
COPY migrations ./migrations
COPY contracts/artifacts ./contracts/artifacts
RUN npm run build

FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
# TypeScript comes in only as viem's optional peer (types), and the PDF font package carries
# nine weights of which the statements and receipts use two (src/reports/pdfFonts.ts): neither
# belongs in the image.
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts \
 && rm -rf node_modules/typescript \
 && find node_modules/@expo-google-fonts/noto-sans-sc -mindepth 1 -maxdepth 1 -type d ! -name 400Regular ! -name 700Bold -exec rm -rf {} +

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app
COPY --from=prod-deps --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root package.json openapi.yaml ./
COPY --chown=root:root bin ./bin
COPY --chown=root:root public ./public
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "bin/clinicpay.mjs", "start"]
