"""DynamoDB adapters: the only package that knows attribute names and pynamodb.

- ``schema``: the table's layout — key prefixes, pynamodb models, and the field table that
  maps records (``repoconn_core.records``) to items and back;
- ``failures``: DynamoDB's errors as domain errors;
- one adapter per port: ``connection_store`` (connections), ``delivery_log`` (accepted
  webhook deliveries, the relay's outbox), ``lease_table`` (project leases).

Only the composition root (``repoconn_core.wiring``) builds adapters; use cases see the
ports (``repoconn_core.ports``).
"""
