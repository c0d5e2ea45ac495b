"""Release: the nbgrader side. Student versions by ``generate_assignment``, the grading
workspace and its ``nbgrader_config.py`` (which plain ``nbgrader`` and the formgrader
read as well as ``course grade``), and a class on a JupyterHub server (``hub``, its
config files ``hubfiles`` and idempotent ``steps``)."""
