// tolerances.h — every comparison threshold in one place, each with why it has the value it has. Used by
// `gemma4 check`, the golden tests and the inspector's divergence panel.
#pragma once

namespace gemma4::tolerance {

// Reference vs Hugging Face transformers, both float32 on the same (float32 or bf16-upcast) weights. Float32 rounding
// differs only in summation order (OpenBLAS/MKL vs our loops), which gives NMSE around 1e-14 per layer; 1e-10 leaves
// four orders of magnitude of room and still catches any real formula error (a wrong norm, scale or RoPE pairing gives
// NMSE > 1e-3).
inline constexpr double kNmseVsTransformers = 1e-10;

// Our --backend blas against --backend ref: same formulas, sgemm's blocked summation order.
inline constexpr double kNmseBlasVsRef = 1e-10;

// --backend bf16 against --backend ref, per probe of a whole forward (tests/test_ops_bf16.cpp): every matmul input with
// a bf16 weight rounded to bf16 (relative error up to 2^-9 per value) and compounded through the layers. Measured on
// the bundled bf16 demo models: worst probe NMSE 1.8e-5 (demo-e2b-mini) and 6.4e-5 (demo-moe-mini), attention
// weights both; 1e-3 leaves room and still catches a formula error (a wrong pairing, scale or layout: NMSE ~1).
inline constexpr double kNmseBf16VsRef = 1e-3;

// OpenCL kernels against the reference op (design §5): kernels may use fused multiply-add and other orders.
inline constexpr double kNmseOpenClVsRef = 1e-8;

// Decoding token by token with the KV cache against one full forward over the same tokens: identical formulas,
// identical summation order per row except the softmax's row length, so the agreement is near bit-exact.
inline constexpr double kNmseDecodeVsPrefill = 1e-12;

}  // namespace gemma4::tolerance
