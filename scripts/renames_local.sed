# Module renames of issue 12, point 6 (branch wp-local): infra/local split by what it emulates,
# the OpenAPI generator moved to infra/openapi. For re-applying to files other branches changed:
#
#     sed -E -i -f scripts/renames_local.sed FILE...
#
# Most specific first. The three old modules whose names became packages (simulator, gateway,
# cli) only match when no ".name" follows, and `from repoconn_local.<package> import <new
# submodule>` is left alone, so running the script twice changes nothing. Logger names follow
# the modules (e.g. "repoconn_local.lambda_host.stream_source").
#
# Names that left the module this script maps to (nothing in tests/ or bench/ used them when
# this was written; fix such an import by hand):
#   repoconn_local.gateway.routes: DEFAULT_FUNCTION_TIMEOUT_SECONDS, DEFAULT_MEMORY_MB,
#     function_spec (-> repoconn_local.lambda_host.functions; FunctionSpec, TemplateError and
#     FUNCTION_TYPE live there too but routes still imports them)
#   repoconn_local.lambda_host.stream_source: DEFAULT_BATCH_SIZE, LOCAL_RETRY_ATTEMPTS,
#     STARTING_POSITIONS (-> repoconn_local.lambda_host.stream_mapping, with StreamMapping and
#     stream_mapping, which stream_source still imports)
#   repoconn_local.simulator.server: DELIVERY_TIMEOUT_SECONDS (-> repoconn_local.simulator.control)
#   repoconn_openapi.generator: ROUTE_ERRORS, RouteErrors, STATUS_TEXT, GATEWAY_MESSAGES,
#     error tables (-> repoconn_openapi.route_errors), WEBHOOK_* (-> repoconn_openapi.webhook)
# Delete this file once the branches are merged.

# Already new: `from repoconn_local.<package> import <new submodule>` is kept as it is
# (the module rules below would otherwise read the package as the old module).
s/\<from repoconn_local\.(simulator|gateway|cli) import (core|state|github|gitlab|bitbucket|control|server|routes|jwt_authorizer|events|proxy_response|health_check)\>/from repoconn_local.\1@KEEP@ import \2/g

# module paths (dotted)
s/\<repoconn_local\.simulator_core\>/repoconn_local.simulator.core/g
s/\<repoconn_local\.simulator_state\>/repoconn_local.simulator.state/g
s/\<repoconn_local\.simulator_github\>/repoconn_local.simulator.github/g
s/\<repoconn_local\.simulator_gitlab\>/repoconn_local.simulator.gitlab/g
s/\<repoconn_local\.simulator_bitbucket\>/repoconn_local.simulator.bitbucket/g
s/\<repoconn_local\.simulator\>([^.@]|$|\.([^[:alnum:]_]|$))/repoconn_local.simulator.server\1/g
s/\<repoconn_local\.embedded_aws\>/repoconn_local.aws.embedded/g
s/\<repoconn_local\.dynamodb_local\>/repoconn_local.aws.dynamodb_local/g
s/\<repoconn_local\.template_schema\>/repoconn_local.aws.template_schema/g
s/\<repoconn_local\.gateway\>([^.@]|$|\.([^[:alnum:]_]|$))/repoconn_local.gateway.server\1/g
s/\<repoconn_local\.routes\>/repoconn_local.gateway.routes/g
s/\<repoconn_local\.jwt_local\>/repoconn_local.gateway.jwt_authorizer/g
s/\<repoconn_local\.events\>/repoconn_local.gateway.events/g
s/\<repoconn_local\.proxy_response\>/repoconn_local.gateway.proxy_response/g
s/\<repoconn_local\.function_host\>/repoconn_local.lambda_host.function_host/g
s/\<repoconn_local\.lambda_runtime\>/repoconn_local.lambda_host.context/g
s/\<repoconn_local\.stream_relay\>/repoconn_local.lambda_host.stream_source/g
s/\<repoconn_local\.health_cli\>/repoconn_local.cli.health_check/g
s/\<repoconn_local\.cli\>([^.@]|$|\.([^[:alnum:]_]|$))/repoconn_local.cli.main\1/g
s/\<repoconn_local\.openapi\>/repoconn_openapi.generator/g

# `from repoconn_local import <module>` forms used in the tree
s/^([[:space:]]*)from repoconn_local import routes, stack, template_schema$/\1from repoconn_local import stack\n\1from repoconn_local.aws import template_schema\n\1from repoconn_local.gateway@KEEP@ import routes/
s/^([[:space:]]*)from repoconn_local import dynamodb_local, template_schema$/\1from repoconn_local.aws import dynamodb_local, template_schema/
s/^([[:space:]]*)from repoconn_local import (dynamodb_local|template_schema)$/\1from repoconn_local.aws import \2/
s/@KEEP@//g

# file paths
s#\<infra/local/repoconn_local/openapi\.py\>#infra/openapi/repoconn_openapi/generator.py#g
s#\<repoconn_local/openapi\.py\>#infra/openapi/repoconn_openapi/generator.py#g
s#\<repoconn_local/simulator_(core|state|github|gitlab|bitbucket)\.py\>#repoconn_local/simulator/\1.py#g
s#\<repoconn_local/simulator\.py\>#repoconn_local/simulator/server.py#g
s#\<repoconn_local/embedded_aws\.py\>#repoconn_local/aws/embedded.py#g
s#\<repoconn_local/(dynamodb_local|template_schema)\.py\>#repoconn_local/aws/\1.py#g
s#\<repoconn_local/gateway\.py\>#repoconn_local/gateway/server.py#g
s#\<repoconn_local/jwt_local\.py\>#repoconn_local/gateway/jwt_authorizer.py#g
s#\<repoconn_local/(routes|events|proxy_response)\.py\>#repoconn_local/gateway/\1.py#g
s#\<repoconn_local/function_host\.py\>#repoconn_local/lambda_host/function_host.py#g
s#\<repoconn_local/lambda_runtime\.py\>#repoconn_local/lambda_host/context.py#g
s#\<repoconn_local/stream_relay\.py\>#repoconn_local/lambda_host/stream_source.py#g
s#\<repoconn_local/health_cli\.py\>#repoconn_local/cli/health_check.py#g
s#\<repoconn_local/cli\.py\>#repoconn_local/cli/main.py#g
