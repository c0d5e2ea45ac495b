"""Quality checks of the course itself: ``course check`` (``selfcheck``), ``course demo``,
and the benchmarks (``bench``, ``bench_grading``) that print tables."""
