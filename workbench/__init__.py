"""The speculative decoding workbench: see and tune speculative decoding on local GGUF models.

Importing the package is cheap on purpose: llama_cpp, numpy-heavy code and Textual are imported only by
the commands that need them, so `workbench --help` answers at once.
"""

__version__ = "0.1.0"
