"""The local web calculator (``memfit serve``): a FastAPI app and its bundled page (no CDN, works offline).

Needs the ``web`` extra (fastapi, uvicorn); ``from memfit.web.server import create_app``.
"""
