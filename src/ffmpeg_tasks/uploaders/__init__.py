"""Where finished outputs go: a local folder, or S3 and S3-compatible stores."""

from .local import LocalUploader
from .s3 import S3Uploader

__all__ = ["LocalUploader", "S3Uploader"]
