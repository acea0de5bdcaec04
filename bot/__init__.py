"""The assistant around the knowledge base: command line, rendering and (later) dialogue and channels."""
