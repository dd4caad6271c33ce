"""Where model descriptions come from: the bundled catalog, config.json files, bare counts.

``load_model(ref)`` dispatches on what ``ref`` looks like: a bare count (``7B``), a catalog id
(``llama-3.1-8b``), a path to a ``config.json`` or a folder holding one.
"""
