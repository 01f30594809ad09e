"""The shared analysis path, its prompts and its structured output models."""
