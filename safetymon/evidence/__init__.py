"""Safety evidence: near-miss and stop episodes, a tamper-evident SQLite store, verification,
export and the HTML verification report.

Import from the submodules (``safetymon.evidence.store.EvidenceStore``, ...): this package
itself imports nothing, so the verifier does not pull in OpenCV or Matplotlib.
"""
