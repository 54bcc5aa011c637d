"""Pure planning: assignments, policies and preferences in, reminder instants out (no I/O)."""
