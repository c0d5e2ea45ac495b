"""Grader code that runs INSIDE the student's sandboxed kernel: the agent that answers the
checker's requests (``agent``) and the integrity probe (``probe``). It may be tampered
with, and is written so that this can only ever change what the student's own code
could: it never sees tests, references or the gradebook."""
