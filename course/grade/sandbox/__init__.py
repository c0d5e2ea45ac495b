"""The sandbox a student's kernel runs in: bubblewrap namespaces (``box``), cgroup limits
(``cgroups``), the per-assignment limits (``limits``) and the kernel manager that starts a
Jupyter kernel inside it (``kernel``)."""
