"""Targets: one class per cluster flavour behind :class:`base.Target`."""
