"""The HG-DAgger stack's own package: the shared types and wire messages every process imports
(``hgdagger.common``), the unattended loop (``hgdagger.loop``), the command-line entry points
(``hgdagger.cli``) and the benchmarks (``hgdagger.benchmarks``). Importing it imports nothing heavy."""
