"""What the tests share to drive the service, one copy each:

- ``aws_sandbox``        an environment in which no AWS client reaches a real account, and the
                         environment Lambda gives a function;
- ``environment``        a ``Settings`` written to the environment the handlers read, and the
                         settings that point the providers at the simulator;
- ``handlers``           invoke a function's real ``lambda_handler``, read its answer as HTTP;
- ``api``                the connection API in-process (``Api``) or over HTTP (``GatewayApi``),
                         and ``given_connected``;
- ``loopback``           one loopback HTTP server: scripted answers, recorded requests,
                         broken connections;
- ``simulator_control``  a typed client of the provider simulator's ``/_sim`` control API;
- ``deliveries``         webhook deliveries signed as each provider signs them;
- ``records``            stored connections and verified deliveries with every field set;
- ``use_cases``          connect/disconnect built from parts a test picks, as wiring builds them.

Imports of production modules for the tests live here where they can, so a module that
moves is re-pointed in one place.
"""
