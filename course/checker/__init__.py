"""The trusted checker: the separate process where test cells run, never the student's
kernel. It runs only the instructor's code; student objects stay in the kernel and are
reached through proxies (``remote``). Started by ``course.grade.checkers`` with an import
path that holds no folder a student can write. Imports no nbgrader, nbclient,
jupyter_client, sqlalchemy or distributed."""
