"""OpenRouter Image MCP: image analysis tools for AI agents over MCP."""

from importlib.metadata import version

# pyproject.toml holds the version; installed (or editable) metadata carries it here.
__version__ = version("openrouter-image-mcp")
