"""What the S3 fetcher and uploader share, one job per module:

- ``settings``: checked settings (bucket names, prefixes, endpoints, client and transfer values);
- ``connection``: the one factory both adapters' constructors call, and the client and
  transfer manager it builds on first use;
- ``sdk``: the only module that imports boto3 and s3transfer, loaded by ``connection`` on
  first use, so importing the library and its adapters does not import boto3;
- ``transfer``: a transfer that stops (and cleans up) when its caller is cancelled;
- ``failures``: messages that say what to fix, with secrets masked.
"""

from .connection import S3Connection
from .failures import describe_failure, error_code, redact, s3_exceptions
from .settings import (
    MAX_PRESIGN_SECONDS,
    MIB,
    AddressingStyle,
    ClientSettings,
    TransferSettings,
    check_bucket_name,
    check_endpoint_url,
    check_prefix,
    public_endpoint,
)
from .transfer import CLEANUP_TIMEOUT, run_transfer

__all__ = [
    "CLEANUP_TIMEOUT",
    "MAX_PRESIGN_SECONDS",
    "MIB",
    "AddressingStyle",
    "ClientSettings",
    "S3Connection",
    "TransferSettings",
    "check_bucket_name",
    "check_endpoint_url",
    "check_prefix",
    "describe_failure",
    "error_code",
    "public_endpoint",
    "redact",
    "run_transfer",
    "s3_exceptions",
]
