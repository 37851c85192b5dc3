"""The local stack (``make dev``), by what it emulates: simulator (the providers), aws (moto,
DynamoDB Local, the template's table and key), lambda_host (Lambda: environments, the stream
event source), gateway (API Gateway's HTTP API), cli (``repoconn``); stack.py runs them all."""
