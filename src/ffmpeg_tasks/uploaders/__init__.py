"""Where finished outputs go: a local folder, or S3 and S3-compatible stores."""

from .local import LocalUploader

__all__ = ["LocalUploader"]
