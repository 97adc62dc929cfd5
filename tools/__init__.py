"""Tooling around the product (benchmarks, soak, fuzz, eval, scale-out, generators). The runtime never imports it."""
