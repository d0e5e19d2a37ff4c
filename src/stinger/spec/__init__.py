"""The validated run spec (YAML file and command-line flags, one model).

`model` holds the pydantic models, `loading` reading a file and one-line
errors with the YAML line. The copy of a spec safe to write is `core.secrets.redacted`.
"""

from stinger.spec.loading import load_spec_file, merge_overrides, parse_spec
from stinger.spec.model import LoadSpec, Spec, VariantSpec

__all__ = ["LoadSpec", "Spec", "VariantSpec", "load_spec_file", "merge_overrides", "parse_spec"]
