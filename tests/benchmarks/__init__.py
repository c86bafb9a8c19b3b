"""Benchmarks: what versioned_import adds to a program, as ratios against a baseline measured in the same run.

Run from the repository root::

    python -m tests.benchmarks            # full run, a few minutes
    python -m tests.benchmarks --quick    # under a minute
    python -m tests.benchmarks --json out.json --check
    python -m tests.benchmarks --only reads,scans --wall

Every figure is a ratio: the library's path and its baseline are measured side
by side, interleaved, and compared by their medians, because the machines are
shared and noisy. Samples are CPU time unless ``--wall`` is given. Absolute
times are printed for information only. ``docs/performance.md`` has the
results and the diagnosis of every missed target. Nothing
here is a unit test (no file name starts with ``test``), and no test asserts a
wall-clock time.

One module per group of figures:

    harness     timing (interleaved medians), the result row, the workspace
    sources     the generated modules and packages
    reads       attribute reads and calls through a proxy, inside pinned()
    imports     importing a 300-module package with the finder installed
    reloads     reload vs restart, and what continuity costs
    scans       changed() vs os.stat
    heap        reload cost against heap size; a realistic 200-module app
    memory      memory and live generations over many reloads
    realapp     edits in the realistic application of issue 18: vs importlib, +2M objects, restart, gc.freeze()
    appsource   that application, generated
    runner      the command line, the table, JSON, --check
"""
