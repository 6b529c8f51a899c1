import subprocess
import sys
import textwrap


def test_eval_serve_and_ray_packages_do_not_import_torch_or_ray():
    """`assay serve` and the verifier client run without the train extra; Ray loads only on use."""
    code = textwrap.dedent(
        """
        import sys
        import assay.agents.evaluation, assay.serve.app, assay.serve.client
        import assay.serve.adapters, assay.serve.ray_pool, assay.envs.vector, assay.cli
        heavy = {"torch", "transformers", "vllm", "ray", "matplotlib"} & set(sys.modules)
        assert not heavy, heavy
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
