// dtype.h — the element types a safetensors checkpoint may hold, their names and sizes, and the scalar
// conversions bf16/f16 <-> float32 that weight loading uses. Deliberately scalar and branchy (readable, exact);
// no vectorised bulk conversion here (a fast path belongs in kernels/, not in the reference).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gemma4 {

// The safetensors dtype set (huggingface/safetensors `Dtype`), in the format's own spelling.
enum class DType : uint8_t { BOOL, U8, I8, U16, I16, U32, I32, U64, I64, F16, BF16, F32, F64, F8_E4M3, F8_E5M2 };

inline constexpr DType kAllDTypes[] = {DType::BOOL, DType::U8,  DType::I8,   DType::U16,     DType::I16,
                                       DType::U32,  DType::I32, DType::U64,  DType::I64,     DType::F16,
                                       DType::BF16, DType::F32, DType::F64,  DType::F8_E4M3, DType::F8_E5M2};

// The name as written in a safetensors header ("BF16", "F8_E4M3", ...).
inline const char* dtype_name(DType t) {
    switch (t) {
        case DType::BOOL: return "BOOL";
        case DType::U8: return "U8";
        case DType::I8: return "I8";
        case DType::U16: return "U16";
        case DType::I16: return "I16";
        case DType::U32: return "U32";
        case DType::I32: return "I32";
        case DType::U64: return "U64";
        case DType::I64: return "I64";
        case DType::F16: return "F16";
        case DType::BF16: return "BF16";
        case DType::F32: return "F32";
        case DType::F64: return "F64";
        case DType::F8_E4M3: return "F8_E4M3";
        case DType::F8_E5M2: return "F8_E5M2";
    }
    return "?";
}

// Bytes per element.
inline size_t dtype_size(DType t) {
    switch (t) {
        case DType::BOOL:
        case DType::U8:
        case DType::I8:
        case DType::F8_E4M3:
        case DType::F8_E5M2: return 1;
        case DType::U16:
        case DType::I16:
        case DType::F16:
        case DType::BF16: return 2;
        case DType::U32:
        case DType::I32:
        case DType::F32: return 4;
        case DType::U64:
        case DType::I64:
        case DType::F64: return 8;
    }
    return 0;
}

// Header spelling -> DType. Case-sensitive, as the format is; returns false for anything else.
inline bool parse_dtype(std::string_view name, DType* out) {
    for (DType t : kAllDTypes) {
        if (name == dtype_name(t)) {
            *out = t;
            return true;
        }
    }
    return false;
}

// bfloat16 is the top half of a float32: widening is a shift, exact for every value including inf and NaN.
inline float bf16_to_f32(uint16_t bits) { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }

// IEEE binary16 -> binary32, exact for every input: 1 sign, 5 exponent (bias 15), 10 mantissa bits.
inline float f16_to_f32(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;
    if (exponent == 0x1f)  // inf (mantissa 0) or NaN (payload kept, shifted into place)
        return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
    if (exponent == 0) {
        if (mantissa == 0) return std::bit_cast<float>(sign);  // ±0
        // Subnormal: value = mantissa · 2^-24. Shift the leading 1 up to the implicit-bit position (bit 10),
        // lowering the exponent once per shift; every f16 subnormal is a normal float32.
        int e = -14;
        while ((mantissa & 0x400u) == 0) {
            mantissa <<= 1;
            --e;
        }
        mantissa &= 0x3ffu;
        return std::bit_cast<float>(sign | static_cast<uint32_t>(e + 127) << 23 | (mantissa << 13));
    }
    return std::bit_cast<float>(sign | (exponent - 15 + 127) << 23 | (mantissa << 13));
}

// float32 -> bfloat16 with round-to-nearest-even (as torch's .to(torch.bfloat16)); overflow rounds to inf.
// NaN stays NaN: the quiet bit is forced on, since dropping the low 16 bits could otherwise leave a zero mantissa.
inline uint16_t f32_to_bf16(float f) {
    const uint32_t bits = std::bit_cast<uint32_t>(f);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x0040u);
    const uint32_t rounding_bias = 0x7fffu + ((bits >> 16) & 1u);
    return static_cast<uint16_t>((bits + rounding_bias) >> 16);
}

}  // namespace gemma4
