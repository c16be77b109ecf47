"""npz_numpy_check.py — numpy's side of tests/test_npz.cpp ("numpy opens what we write, and we open what numpy writes").

usage: npz_numpy_check.py WRITTEN.npz OUT_PLAIN.npz OUT_COMPRESSED.npz
Checks WRITTEN.npz (made by gemma4::NpzWriter) with a plain np.load (no allow_pickle), then writes the same
reverse-direction arrays with np.savez and np.savez_compressed for the C++ reader. Exits non-zero on any mismatch.
Needs only numpy; the expected values must match those in test_npz.cpp.
"""

import sys

import numpy as np


def check_written(path):
    with np.load(path) as z:  # allow_pickle defaults to False: strings must load without pickling
        expected_order = ["text.0.attn_q", "scalar", "empty", "ids32", "meta.tokens", "meta.prompt", "meta.model",
                          "meta.empty"]
        assert list(z.files) == expected_order, z.files

        q = z["text.0.attn_q"]
        assert q.dtype == np.float32 and q.shape == (2, 3), (q.dtype, q.shape)
        assert np.array_equal(q, np.arange(6, dtype=np.float32).reshape(2, 3) * 0.5 - 1.0), q

        s = z["scalar"]
        assert s.dtype == np.float32 and s.shape == () and float(s) == 3.25, (s.dtype, s.shape, s)

        e = z["empty"]
        assert e.dtype == np.float32 and e.shape == (0, 4), (e.dtype, e.shape)

        i32 = z["ids32"]
        assert i32.dtype == np.int32 and i32.tolist() == [-2, 0, 7, 2147483647], (i32.dtype, i32)

        tokens = z["meta.tokens"]
        assert tokens.dtype == np.int64 and tokens.tolist() == [2, 105, 9000000000], (tokens.dtype, tokens)

        prompt = z["meta.prompt"]
        assert prompt.dtype.kind == "U" and prompt.shape == (), (prompt.dtype, prompt.shape)
        assert str(prompt) == "h\u00e9llo \U0001F642", repr(str(prompt))
        assert str(z["meta.model"]) == "tiny-e2b", repr(str(z["meta.model"]))
        assert str(z["meta.empty"]) == "", repr(str(z["meta.empty"]))


def reverse_arrays():
    return {
        "probe": np.arange(6, dtype=np.float32).reshape(2, 3) / 4,
        "meta.tokens": np.array([1, -5, 2**40], dtype=np.int64),
        "meta.prompt": np.array("na\u00efve \u2713 \U0001F642"),
        "flags": np.array([True, False, True]),
        "f64": np.array([0.1, -2.5]),
        "f16": np.array([1.5, -0.25, 65504], dtype=np.float16),
        "u8": np.array([0, 255], dtype=np.uint8),
        "i16": np.array([[-300, 7]], dtype=np.int16),
        "scalar": np.float32(1.5),
        "bytes": np.array(b"abc"),
    }


def main():
    written, out_plain, out_compressed = sys.argv[1:4]
    check_written(written)
    np.savez(out_plain, **reverse_arrays())
    np.savez_compressed(out_compressed, **reverse_arrays())
    print("npz_numpy_check: ok")


if __name__ == "__main__":
    main()
