"""The verification service (``assay serve``), its Python client and trainer adapters.

`create_app` builds the FastAPI app; `run` serves it with uvicorn (graceful shutdown);
`VerifierClient` calls it; `assay.serve.adapters` plugs it into verl and OpenRLHF;
`assay.serve.ray_pool.RayVerifierPool` spreads verification over a Ray cluster (``ray`` extra).
Needs the ``serve`` extra (fastapi, uvicorn, httpx, prometheus-client) for the server; the
client needs only httpx.
"""
