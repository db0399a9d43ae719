"""Training hooks: a registry VISSL lacks, and the hook generator our launcher passes."""
