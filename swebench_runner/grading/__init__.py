"""Grading: the official grader, local grading in environments built here, and the validation of the grader."""
