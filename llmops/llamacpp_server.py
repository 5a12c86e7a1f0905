"""The managed llama.cpp model process: llama-cpp-python's own server, with weight repacking off unless asked.

    python -m llmops.llamacpp_server [--repack] <llama_cpp.server arguments>

llama.cpp moves a model's weights into "extra" CPU buffers where the processor offers faster kernels for them
(AMX on Sapphire Rapids-class Xeons, AVX repacking elsewhere). Its AMX kernels crash the process with a
segmentation fault in `ggml_backend_amx_mul_mat` at the first decode of a Q4_K_M model on such machines
(llama.cpp #20824, never fixed), and llama-cpp-python's server has no option for it. A build without AMX would
do, but pip's wheel cache hands every later install the wheel first built on the box, whatever flags that had.
So the process turns the extra buffers off itself (`use_extra_bufts`), before the server loads the model;
`--repack` (LLAMACPP_REPACK=true) leaves llama.cpp's default, for a box known to run it.

It imports no Django: the model host starts it with the model's path and context length on its command line.
"""

from __future__ import annotations

import runpy
import sys
from typing import Any


def without_extra_buffers() -> None:
    """Make every model this process loads keep its weights in plain CPU buffers."""
    from llama_cpp import llama_cpp as native

    default_params = native.llama_model_default_params

    def params() -> Any:
        found = default_params()
        found.use_extra_bufts = False
        return found

    # llama_cpp.llama.Llama reads the defaults through this module attribute when it loads a model.
    native.llama_model_default_params = params


def main(argv: list[str]) -> None:
    repack = "--repack" in argv
    argv = [arg for arg in argv if arg != "--repack"]
    if not repack:
        without_extra_buffers()
    sys.argv = ["llama_cpp.server", *argv]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
