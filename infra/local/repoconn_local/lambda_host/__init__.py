"""The Lambda service, emulated in-process: warm execution environments, the context object, and
the DynamoDB stream event source mapping."""
