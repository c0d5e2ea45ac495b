"""Report: the gradebook read back as rows and CSV (``gradebook``), the students' feedback
pages (``feedback``), the instructor's report (``instructor``) and LMS grade files
(``lms``)."""
