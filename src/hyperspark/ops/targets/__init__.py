"""Targets: one class per cluster flavour behind :class:`base.Target`.

``base`` is the interface, ``request`` the types a launch receives (``DriverRequest``, ``DriverOutput``),
``submit`` the one submit path, ``registry`` the ``--target`` name -> class lookup; each built-in target is
a package (``local``, ``compose``, ``k8s``) that re-exports its class, and no target imports another.
"""
