"""Author: what instructors write. A unit's MyST sources become notebooks (``source``),
its cell marks are nbgrader metadata (``cells``), its fixtures are sample submissions
(``fixtures``), and ``inputs`` says what toolkit code each notebook depends on."""
