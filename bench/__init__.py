"""Benchmarks of the studio against stock diffusers, at full model size with random weights.

Random weights cost exactly the compute of the real ones, so times and memory are real; only
quality figures (errors, cache hit rates) need the real weights to mean something. Results go
to `bench/results/<date>-<card>.json`; `bench.compose` holds the arithmetic that turns a
shortened schedule into the 40-step figure, kept apart so it is unit-tested on the CPU.
"""
