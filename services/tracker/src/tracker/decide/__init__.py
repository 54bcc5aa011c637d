"""Pure decisions, one module per use case: plain values in, what to write and publish out."""
