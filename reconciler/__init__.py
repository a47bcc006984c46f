"""reconciler: the runtime every program shares (``runtime``), the pure decisions (``core``) and the
controller program (``controller``); docs/architecture.md draws how they fit."""
