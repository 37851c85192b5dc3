"""API Gateway's HTTP API, emulated: template routes, the JWT authorizer, payload-2.0 events
and proxy responses, served on one local port."""
