"""Everything that changes code: edit operations, AST-anchored application, gates, generation, diffs."""
