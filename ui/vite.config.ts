// Vite builds the window into dist/ (served by src-tauri); Vitest runs the
// component tests under jsdom. JSX is Preact's automatic runtime.
import { defineConfig } from "vitest/config";

export default defineConfig({
  base: "./",
  oxc: {
    jsx: { runtime: "automatic", importSource: "preact" },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2020",
    // No inline polyfill script: the CSP allows scripts from 'self' only.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    restoreMocks: true,
  },
});
