"""Accuracy and throughput benchmarks (run as `python -m benchmarks.NAME`).

They never import the apps/ package: each is an absl program of its own
over tfrd, adapters, zoo and pipelines (shared settings such as
`pipelines.settings.PRESETS` come from there), started by
`pipelines.jobs.run`, which installs the TensorFlow notice filter before
TensorFlow loads. So no benchmark module imports TensorFlow when it is
imported: absl flags are turned into a settings value in `main` (the
`*_from_flags` functions), and the work, which takes that value, imports
what it needs.
"""
