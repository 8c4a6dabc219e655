"""Per-chip programs that leave the simulator: a folder of ONNX graphs, memory images and a manifest, run by a
runner that needs only numpy and onnxruntime (``deploy.onnx_export``, ``deploy/run.py``), and integer-only C for
each chip run one process per chip (``deploy.c_export``, ``deploy/run_c.py``)."""

from .onnx_export import MANIFEST_VERSION, ExportResult, export

__all__ = ["export", "ExportResult", "MANIFEST_VERSION"]
