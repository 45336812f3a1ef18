"""Torch modules, model wrappers (one model per file) and the local weights registry."""
