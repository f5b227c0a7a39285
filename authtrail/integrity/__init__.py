"""Tamper evidence: Merkle-tree hashing, the canonical leaf of an event, signed checkpoints,
and the sealer's state.

``merkle``, ``leaf``, ``canonical_json``, ``checkpoint``, ``sealing`` and ``checkpointer`` are
pure (apart from reading and writing key files); ``seal_store`` keeps the sealer's state in the
store and ``signing_key`` finds or creates the key. The sealing service
(``connect/sealer/service.py``), the API and ``authtrail verify`` build on them.
"""
