"""The `repoconn` console script (`repoconn dev`, `repoconn token`, `repoconn health-check`)."""
