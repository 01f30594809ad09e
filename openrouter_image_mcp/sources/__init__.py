"""Loading image bytes safely from URLs, local files, data URLs and base64."""

from .loader import ImageLoader
from .models import Resolver, SourceImage, SourceKind

__all__ = ["ImageLoader", "Resolver", "SourceImage", "SourceKind"]
