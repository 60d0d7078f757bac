"""The HTTP layer (FastAPI): request models, routes, errors, keys, metrics, response bytes.

Imports the engine; the engine never imports this package."""
