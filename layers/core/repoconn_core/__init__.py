"""repoconn_core."""
