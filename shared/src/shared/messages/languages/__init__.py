"""The built-in texts, one module per language (a translator edits one file)."""
