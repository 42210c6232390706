"""The decision: a pure, deterministic state machine from world state to RUN / SLOW / STOP.

``inputs`` holds the per-cycle input types, ``site`` compiles a SiteConfig into arrays,
``separation`` evaluates distances and zones for one cycle, ``decision`` turns that and the
previous state into a Decision. None of them does I/O or holds threads.
"""
