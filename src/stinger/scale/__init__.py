"""Worker backends: where load workers run and how their interval records reach the coordinator."""
