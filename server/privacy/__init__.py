"""Privacy: the access log, the consent ledger, and the subject's rights (export, erasure)."""
