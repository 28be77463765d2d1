import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The build goes into the Python package (maghub/api/console), so `maghub serve` ships the console
// without Node.js. Hashed file names let the server cache them for a year; index.html is never cached.
export default defineConfig({
  base: "/ui/",
  plugins: [react()],
  build: {
    outDir: "../src/maghub/api/console",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    target: "es2020",
    chunkSizeWarningLimit: 800,
  },
  server: {
    proxy: { "/api": "http://127.0.0.1:8000" },
  },
});
