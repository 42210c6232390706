"""Fleet evidence: shipping each cell's evidence store to a central PostgreSQL.

``models`` (what crosses the process boundary), ``schema`` (the centre's versioned
migrations), ``connect`` (connection URL rules), ``centre`` (ingest: chain, signature and
divergence checks, run inside one PostgreSQL transaction per batch; central verification)
and ``ship`` (the cell side: reads the SQLite store, signs batch heads, resumes from what
the centre has accepted). Needs ``psycopg`` 3 and ``cryptography``.
"""
