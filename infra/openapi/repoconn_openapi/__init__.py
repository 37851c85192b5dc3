"""docs/openapi.json, generated from the handlers, template.yaml and the error classes."""
