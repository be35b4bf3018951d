"""The one exception type a user is meant to read.

Anything foreseeable (a missing file, not a GGUF, an incompatible pair, a value out of range, a prompt
longer than the context) is raised as a WorkbenchError whose message is one clear line. Front ends show
that line and carry on; anything else is a bug and may show a traceback.
"""


class WorkbenchError(Exception):
    pass
