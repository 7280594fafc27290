"""Speed tests run on the CPU: Triton kernels through its interpreter, two interpreter bugs patched.

Triton 3.6's interpreter (1) turns loop bounds into Python ints with `int(array)`, which NumPy 2
refuses for 1-element arrays, and (2) rounds float32 -> FP8 without carrying a mantissa overflow
into the exponent (31.6 becomes 16, not 32). Both are fixed here for the tests only, so the kernel
is checked against the same rounding (round to nearest even) that the GPU does. BF16 dots are not
supported by the interpreter at all: the BF16 P·V path is tested with FP16 inputs.
"""

from __future__ import annotations

import os

import torch

if not torch.cuda.is_available():  # on a GPU machine the kernels run for real (bench), not here
    os.environ.setdefault("TRITON_INTERPRET", "1")


def _patch_interpreter() -> bool:
    try:
        import numpy as np
        import triton.language as tl
        from triton.runtime import interpreter
    except ImportError:
        return False
    patch_tensor = interpreter._patch_lang_tensor

    def patched_tensor(tensor, scope):
        patch_tensor(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(np.asarray(self.handle.data).reshape(-1)[0]))

    to_fp = interpreter.InterpreterBuilder.create_fp_to_fp

    def fp_to_fp(self, src, dst_type, rounding_mode):
        if src.dtype.scalar == tl.float32 and dst_type.scalar == tl.float8e4nv:
            data = torch.from_numpy(np.ascontiguousarray(src.data, dtype=np.float32))
            return interpreter.TensorHandle(data.to(torch.float8_e4m3fn).view(torch.uint8).numpy(), dst_type.scalar)
        return to_fp(self, src, dst_type, rounding_mode)

    interpreter._patch_lang_tensor = patched_tensor
    interpreter.InterpreterBuilder.create_fp_to_fp = fp_to_fp
    return True


TRITON_INTERPRETER = os.environ.get("TRITON_INTERPRET") == "1" and _patch_interpreter()
