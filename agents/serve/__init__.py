"""The verification service (``assay serve``), its Python client and trainer adapters.

`create_app` builds the FastAPI app; `run` serves it with uvicorn (graceful shutdown);
`VerifierClient` calls it; `assay.agents.serve.adapters` plugs it into verl and OpenRLHF.
Needs the ``serve`` extra (fastapi, uvicorn, httpx, prometheus-client) for the server; the
client needs only httpx.
"""
