"""Root pytest configuration: shared by tests/ and the nbval runs over lessons/."""
import os

from course.execute import KERNEL_ENV

# nbval's kernels inherit this process's environment: run lessons exactly as the build did.
os.environ.update(KERNEL_ENV)
