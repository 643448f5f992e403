"""Row-level validation of an uploaded CSV against its dataset contract (the Validate step's core)."""

from sluice_lib.validate.core import validate_object

__all__ = ["validate_object"]
