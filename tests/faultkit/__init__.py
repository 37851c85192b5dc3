"""Fault injection for repoconn's collaborators, usable from any suite.

- ``injector``: the ordered trace of instrumented calls ("steps") and the faults armed for
  the Nth occurrence of a step; counts what was injected.
- ``aws``: botocore ``before-call``/``after-call`` handlers that answer a call with a real
  service error (the same short-circuit botocore's Stubber uses), a transport error, a lost
  response or a crash; attached to boto3 sessions/clients and to every pynamodb connection
  (found through pynamodb's ``pre_dynamodb_send`` signal).
- ``provider``: a ``WebhookClient`` wrapper that fails the Nth provider call with a typed
  error, a lost response, a crash, or a real transport failure from ``TransportFaultServer``
  (a loopback TCP server that resets or stalls every connection).
"""
