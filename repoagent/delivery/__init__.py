"""Handing a patch over: to the working tree, to a new branch (and, later, a pull request)."""
