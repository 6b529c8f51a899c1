"""Scale-out on Ray: `RayVectorEnv` (behind ``assay.make_vec(..., backend="ray")``) and
`RayVerifierPool`.

Neither ever calls ``ray.init``: connect to a cluster (or start a local one) yourself, e.g.
``ray.init(address="auto")`` or ``ray.init(num_cpus=2)``; without it they raise. Needs the
``ray`` extra.
"""

from assay.agents.distributed.pool import PoolStats, RayVerifierPool
from assay.agents.distributed.vector import RayVectorEnv

__all__ = ["PoolStats", "RayVectorEnv", "RayVerifierPool"]
