"""Build (``course build``): lessons executed, solutions and student versions written,
side-by-side pages, and whether every generated file is still fresh."""
