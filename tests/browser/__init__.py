"""Real-browser tests: Playwright driving chromium against a live hypercorn."""
