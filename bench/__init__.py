"""Benchmarks of reaper sweeps on the sandbox: ``python -m bench.sweep [--quick]`` (AWS, on
moto) and ``python -m bench.gcp [--quick]`` (GCP, on the embedded GCP fake).

Run from the repository root. The modules:

- ``sweep``: the entry point; parses the options, runs the phases, prints the summary.
- ``options``: the command line, the estate's constants and the reaper config used.
- ``output``: printing, tables and the summary's figures.
- ``sweep_phase``: seed, plan, apply, check and print the sweep phase.
- ``estate``: seeding moto. ``minimum``: the fewest requests and the critical path.
- ``inrun``: the critical path costed with the proxy's own measurements.
- ``request_counts``: requests by operation. ``timing``: direct per-request timings.
- ``cpu``: CPU seconds per phase. ``rss`` and ``rss_child``: peak memory in a child.
- ``policy``: ``make_plan`` throughput in a child.
- ``gcp``: the GCP benchmark, on its own: requests against the minimum and wall time with
  latency for Compute Engine and GKE, and the pipeline-label filter measured both ways.
- ``kube`` (``python -m bench.kube``): a Kubernetes sweep over fake clusters that
  ``kube_host`` serves from a child process.

Nothing is imported here: the children (``python -m bench.rss_child``, ``python -m
bench.policy``) import this package first, and must not pay for the rest of it.
"""
