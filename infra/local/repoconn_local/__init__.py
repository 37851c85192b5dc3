"""repoconn_local."""
