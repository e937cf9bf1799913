import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The console (Preact + TypeScript), served by the API at /console. `npm run build:console`
 * writes web/dist (git-ignored); nothing is loaded from another origin at run time.
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/console/',
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // No inline polyfill script: the CSP forbids inline code.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    target: 'es2022',
  },
});
