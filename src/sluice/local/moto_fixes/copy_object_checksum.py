"""S3 ``CopyObject`` of a multipart upload gives a copy that cannot be read back (``FlexibleChecksumError``).

moto: ``S3Backend.copy_object`` copies ``checksum_value`` (for a multipart upload, the checksum of the
parts' checksums) but not ``checksum_type`` (``COMPOSITE``) nor ``checksum_parts``, so GetObject announces
it as the object's full checksum and botocore's validation fails. The local Glue uploads output files
above 8 MiB in parts; Load copies them to curated/ and reads them back.
AWS: the copy keeps a composite ``x-N`` checksum, which clients do not validate against the body.
Fix: the copy keeps the source's checksum type and part count.

Regression tests:
``tests/statemachine/test_moto_fixes/test_copy_object_checksum.py::test_copy_of_a_multipart_upload_reads_back_whole``,
``tests/statemachine/test_moto_fixes/test_copy_object_checksum.py::test_copy_of_a_multipart_upload_fails_checksum_without_the_fix``.
"""

from __future__ import annotations

import functools
from typing import Any

from moto.s3.models import S3Backend

from sluice.local.moto_fixes._patch import Patch


def patches() -> list[Patch]:
    """The copy keeps a composite checksum's type and part count."""
    original = S3Backend.copy_object

    @functools.wraps(original)
    def copy_object(
        self: Any, src_key: Any, dest_bucket_name: str, dest_key_name: str, *args: Any, **kw: Any
    ) -> None:
        original(self, src_key, dest_bucket_name, dest_key_name, *args, **kw)
        if getattr(src_key, "checksum_type", None) == "COMPOSITE":
            copied = self.get_object(dest_bucket_name, dest_key_name)
            if copied is not None and copied.checksum_value == src_key.checksum_value:
                copied.checksum_type = src_key.checksum_type
                copied.checksum_parts = src_key.checksum_parts

    return [Patch(S3Backend, "copy_object", copy_object)]
