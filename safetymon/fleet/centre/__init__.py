"""The central side: ingest of shipped batches and verification of the central copy."""
