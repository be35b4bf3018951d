"""`workbench serve`: the OpenAI API over the workbench's speculation, a layer beside the app (DESIGN.md section 5).

protocol.py checks request bodies; slot.py runs the engine in one thread behind a FIFO queue; api.py is the
Starlette app (routes, auth, limits, server-sent events); metrics.py `/metrics`; traffic.py `--log`;
command.py the command itself (uvicorn, signals). Nothing here is imported by the engine.
"""
