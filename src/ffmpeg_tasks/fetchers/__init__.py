"""How inputs arrive: ``http(s)`` (SSRF-safe by default), local folders, S3, and a router by scheme."""

from .http import HttpFetcher
from .local import LocalFetcher
from .routing import RoutingFetcher
from .s3 import S3Fetcher

__all__ = ["HttpFetcher", "LocalFetcher", "RoutingFetcher", "S3Fetcher"]
