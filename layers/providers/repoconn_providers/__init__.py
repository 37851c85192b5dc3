"""repoconn_providers."""
