"""What a failed S3 request is called: messages that say what to change and hold no secret.

botocore is imported inside the functions: they only run once a request has been made, so
boto3 is loaded already.
"""

from __future__ import annotations

from .settings import ClientSettings, public_endpoint

__all__ = ["describe_failure", "error_code", "redact", "s3_exceptions"]

_CREDENTIAL_CODES = frozenset(
    {
        "ExpiredToken",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "InvalidToken",
        "SignatureDoesNotMatch",
        "TokenRefreshRequired",
    }
)
_DENIED_CODES = frozenset({"403", "AccessDenied", "AllAccessDisabled", "AccountProblem"})
_REGION_CODES = frozenset(
    {
        "301",
        "AuthorizationHeaderMalformed",
        "IllegalLocationConstraintException",
        "PermanentRedirect",
    }
)


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every secret replaced by ``***``.

    Real keys are 20 (id) and 40 (secret) characters long; shorter strings (test values such
    as ``"t"``) are left alone, or every ``t`` of the message would go.
    """
    for secret in secrets:
        if len(secret) >= 8:
            text = text.replace(secret, "***")
    return text


def describe_failure(
    exc: BaseException,
    *,
    doing: str,
    bucket: str,
    settings: ClientSettings,
    permission: str,
) -> str:
    """A message for a failed S3 request that says what to change; secrets are masked.

    Args:
        exc: What boto3, s3transfer or the file system raised.
        doing: What was being done, e.g. ``"uploading to s3://b/k"``.
        bucket: The bucket concerned.
        settings: The client's settings (region, endpoint, secrets to mask).
        permission: The IAM actions the operation needs, for access-denied messages.
    """
    from botocore import exceptions as bx
    from s3transfer.exceptions import RetriesExceededError

    where = f"at {public_endpoint(settings.endpoint_url)}" if settings.endpoint_url else "on AWS"
    if isinstance(exc, bx.ClientError):
        code = error_code(exc)
        if code == "NoSuchBucket":
            text = f"bucket {bucket!r} does not exist {where} (failed {doing})"
        elif code in _CREDENTIAL_CODES:
            text = (
                f"S3 refused the credentials ({code}) {doing}: check AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or the role the process runs as"
            )
        elif code in _DENIED_CODES:
            text = f"access denied {doing}: the credentials need {permission}"
        elif code in _REGION_CODES:
            text = (
                f"bucket {bucket!r} is not in region {settings.region or '(default)'} ({code}) "
                f"{doing}: set AWS_REGION to the bucket's region"
            )
        else:
            message = exc.response.get("Error", {}).get("Message")
            text = f"S3 answered {code}{f' ({message})' if message else ''} {doing}"
    elif isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        text = (
            f"no AWS credentials found {doing}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or run with a role or profile boto3 can find"
        )
    elif isinstance(exc, bx.CredentialRetrievalError):
        text = f"could not get AWS credentials {doing}: {exc}"
    elif isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError):
        text = f"cannot connect to S3 {where} {doing}: check AWS_ENDPOINT_URL and the network"
    elif isinstance(exc, bx.HTTPClientError | bx.ReadTimeoutError | RetriesExceededError):
        attempts = settings.max_attempts
        text = f"the connection to S3 {where} failed {doing} (tried {attempts} times): {exc}"
    elif isinstance(exc, bx.BotoCoreError):
        text = f"S3 client error {doing}: {exc}"
    elif isinstance(exc, OSError):
        text = f"file error {doing}: {exc.strerror or exc}"
    else:
        text = f"{doing} failed: {type(exc).__name__}: {exc}"
    return redact(text, settings.secrets)


def s3_exceptions() -> tuple[type[Exception], ...]:
    """The exception types an S3 transfer raises that adapters translate."""
    from botocore.exceptions import BotoCoreError, ClientError
    from s3transfer.exceptions import CancelledError, RetriesExceededError

    return (BotoCoreError, ClientError, RetriesExceededError, CancelledError, OSError)


def error_code(exc: BaseException) -> str | None:
    """The S3 error code (``NoSuchKey``, ``404``...) of a botocore ClientError, else None."""
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return None
    code = exc.response.get("Error", {}).get("Code")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(code or status)
