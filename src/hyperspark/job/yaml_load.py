"""THE YAML loader of the project: every spec, ``--set`` value, warm start and state file read as YAML goes here.

PyYAML's ``safe_load`` quietly keeps the LAST of two equal keys (``cv_folds: 3`` ... ``cv_folds: 5`` runs 5
folds with nobody told) and expands aliases, so ten lines of ``&a [*b, *b, ...]`` grow into gigabytes (the
"billion laughs"). :class:`StrictLoader` refuses both while it builds the document: a duplicate key names
the key and both lines; an alias (``*name``) is refused (a spec has no need for them), so nothing can
expand. Errors are :class:`yaml.YAMLError` (a ``MarkedYAMLError`` with the position), which every caller
already turns into its one line.

Imports only PyYAML: the job, the API and the ops tool all load it.
"""
from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode


class StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate mapping keys and aliases."""

    def compose_node(self, parent, index):  # noqa: ANN001 - PyYAML's signature
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"alias *{event.anchor} on line {event.start_mark.line + 1}: YAML aliases are not "
                "accepted (write the value out)", event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):  # noqa: ANN001 - PyYAML's signature
        if isinstance(node, MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _value in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: SafeLoader says so itself
                    continue
                if first is not None:
                    raise ConstructorError(
                        None, None, f"duplicate key {key!r} on line {key_node.start_mark.line + 1} (first on "
                        f"line {first.line + 1})", key_node.start_mark)
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def load(text: str) -> Any:
    """``text`` as YAML (duplicate keys and aliases refused); raises :class:`yaml.YAMLError`."""
    return yaml.load(text, Loader=StrictLoader)  # noqa: S506 - StrictLoader is a SafeLoader


def load_all(text: str) -> list[Any]:
    """Every document in ``text`` (as :func:`load`)."""
    return list(yaml.load_all(text, Loader=StrictLoader))  # noqa: S506 - a SafeLoader


YAMLError = yaml.YAMLError
