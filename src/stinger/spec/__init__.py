"""The validated run spec (YAML file and command-line flags, one model)."""

from stinger.spec.model import (
    LoadSpec,
    Spec,
    VariantSpec,
    load_spec_file,
    merge_overrides,
    parse_spec,
    redacted,
)

__all__ = ["LoadSpec", "Spec", "VariantSpec", "load_spec_file", "merge_overrides", "parse_spec", "redacted"]
