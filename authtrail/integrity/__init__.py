"""Tamper evidence: Merkle-tree hashing, the canonical leaf of an event, signed checkpoints.

Pure and I/O-free except for reading and writing key files; the sealing service, the API
and ``authtrail verify`` build on it.
"""
