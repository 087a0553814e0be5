import type { IncomingMessage, ServerResponse } from 'node:http';

import vue from '@vitejs/plugin-vue';
import { defineConfig, type Plugin, type ProxyOptions } from 'vite';

// `npm run dev` / `npm run preview` mirror the nginx deployment: the UI is told `apiBase: "/api"`
// and `/api/...` is proxied to a local blueprint-api with the prefix stripped
// (`/api/api/info` → `/api/info`, `/api/readyz` → `/readyz`). API_URL picks another api.
const apiUrl = process.env.API_URL ?? 'http://127.0.0.1:9898';

const proxy: Record<string, ProxyOptions> = {
  '/api': {
    target: apiUrl,
    changeOrigin: true,
    rewrite: (path) => path.replace(/^\/api/, '') || '/',
  },
};

function serveProxyConfig(req: IncomingMessage, res: ServerResponse, next: () => void): void {
  if (req.url?.split('?')[0] !== '/config.json') return next();
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Cache-Control', 'no-store');
  res.end(JSON.stringify({ apiBase: '/api' }));
}

/** `/config.json` → `{"apiBase": "/api"}` on the dev and preview servers (as nginx does). */
function proxyConfig(): Plugin {
  return {
    name: 'blueprint-proxy-config',
    configureServer(server) {
      server.middlewares.use(serveProxyConfig);
    },
    configurePreviewServer(server) {
      server.middlewares.use(serveProxyConfig);
    },
  };
}

export default defineConfig({
  plugins: [vue(), proxyConfig()],
  base: '/',
  build: {
    outDir: 'dist',
    target: 'es2022',
    sourcemap: false,
    assetsDir: 'assets',
  },
  server: { host: '127.0.0.1', port: 5173, strictPort: true, proxy },
  preview: { host: '127.0.0.1', port: 4173, strictPort: true, proxy },
});
