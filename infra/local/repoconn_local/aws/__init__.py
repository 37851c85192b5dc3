"""AWS services for local runs and tests: moto in-process, DynamoDB Local, and the table and
key built from template.yaml."""
