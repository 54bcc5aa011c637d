"""Between Sessions shared package: message contracts, topology, settings, logging."""
