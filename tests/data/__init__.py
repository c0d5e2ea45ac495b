"""Tests of the data layer (course.data, course.zoo, datasets/registry.toml)."""
