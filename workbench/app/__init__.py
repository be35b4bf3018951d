"""The Textual app: displays what the engine emits and steers it through LiveSettings. Nothing else."""
