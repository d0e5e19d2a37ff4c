"""The validated run spec (YAML file and command-line flags, one model).

`model` holds the pydantic models, `loading` reading a file and one-line
errors with the YAML line, `redact` the copy of a spec safe to write.
"""

from stinger.spec.loading import load_spec_file, merge_overrides, parse_spec
from stinger.spec.model import LoadSpec, Spec, VariantSpec
from stinger.spec.redact import redacted

__all__ = ["LoadSpec", "Spec", "VariantSpec", "load_spec_file", "merge_overrides", "parse_spec", "redacted"]
