// cl_runtime.h — the small OpenCL host runtime under the kernels: one device's context and in-order queue, programs
// built from the embedded .cl sources (or GEMMA4_CL_DIR) with an on-disk binary cache, buffers that respect the
// device's per-allocation limit, and CL_CHECK. No ops here (cl_ops.h); no Backend interface (design §6, reference/).
#pragma once

#include <CL/cl.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cl_devices.h"

namespace gemma4::cl {

// Throws gemma4::Error "CL_OUT_OF_RESOURCES from clEnqueueNDRangeKernel(...) at cl_ops.cpp:42".
[[noreturn]] void throw_cl_error(int code, const char* expr, const char* file, int line);

#define CL_CHECK(expr)                                                                  \
    do {                                                                                \
        const cl_int cl_check_err_ = (expr);                                            \
        if (cl_check_err_ != CL_SUCCESS)                                                \
            ::gemma4::cl::throw_cl_error(cl_check_err_, #expr, __FILE__, __LINE__);     \
    } while (0)

// Options every program is built with: OpenCL C 1.2 and IEEE float semantics (no -cl-fast-relaxed-math: the kernels
// are checked against the reference at NMSE 1e-8, and relaxed math changes exp/tanh/pow and NaN/Inf handling).
inline constexpr const char* kBuildOptions = "-cl-std=CL1.2";

// The text of kernels/<name>.cl: read from $GEMMA4_CL_DIR/<name>.cl when that variable is set (iterate on a kernel
// without rebuilding), else the copy embedded at build time. Throws naming the file or the unknown name.
std::string kernel_source(const std::string& name);
std::vector<std::string> embedded_kernel_names();  // "elementwise", "matmul", ... (the kernels/*.cl files)

// Where program binaries are cached: $XDG_CACHE_HOME/gemma4-ref/cl, else ~/.cache/gemma4-ref/cl; empty when
// neither variable is set (then nothing is cached).
std::string binary_cache_dir();

// An owned cl_mem and its size in bytes. Move-only.
class Buffer {
public:
    Buffer() = default;
    Buffer(cl_mem mem, size_t bytes) : mem_(mem), bytes_(bytes) {}
    ~Buffer();
    Buffer(Buffer&& other) noexcept;
    Buffer& operator=(Buffer&& other) noexcept;
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    cl_mem mem() const { return mem_; }
    size_t bytes() const { return bytes_; }

private:
    cl_mem mem_ = nullptr;
    size_t bytes_ = 0;
};

// How one program came to be: built from source (seconds includes LLVM on PoCL) or loaded from the binary cache.
struct ProgramBuild {
    std::string name;
    double seconds = 0;
    bool from_cache = false;
};

// Where an op's activation arguments live. The host wrappers of cl_ops.h ask their ClContext for each activation
// argument through in / out / inout and hand an output back through done; parameters and control data (norm weights,
// positions, ids) are uploaded directly. With no HostIo installed (the parity tests, the benchmark) in and inout
// upload, out allocates and done downloads: every call moves its activations both ways. The OpenCL Backend installs
// ClResidency (cl_resident.h), which answers with device mirrors of the host ranges and moves nothing it need not.
class HostIo {
public:
    virtual ~HostIo() = default;
    virtual Buffer in(const void* host, size_t bytes, const std::string& what) = 0;     // read by the op
    virtual Buffer out(void* host, size_t bytes, const std::string& what) = 0;          // written whole by the op
    virtual Buffer inout(void* host, size_t bytes, const std::string& what) = 0;        // read, then written in place
    virtual void done(const Buffer& buffer, void* host, size_t bytes) = 0;              // the op's output is in buffer
};

// One device (flat index as `gemma4 info --cl` lists it), its context and in-order command queue. Programs and
// kernels are built once per context and kept. Not thread-safe (kernel arguments are set on shared cl_kernels).
class ClContext {
public:
    explicit ClContext(int device_index = 0);
    ~ClContext();
    ClContext(const ClContext&) = delete;
    ClContext& operator=(const ClContext&) = delete;

    const DeviceInfo& info() const { return info_; }
    cl_context context() const { return context_; }
    cl_command_queue queue() const { return queue_; }
    cl_device_id device() const { return device_; }

    // The program of kernels/<name>.cl (kernel_source), built on first use, from the binary cache when it has it.
    cl_program program(const std::string& name);
    // A kernel of that program, created on first use.
    cl_kernel kernel(const std::string& program_name, const std::string& kernel_name);
    // Builds `source` under `label` (used in messages and the build record) without keeping it by name. A failed
    // build throws with the full build log. The caller releases the program.
    cl_program build_program(const std::string& label, const std::string& source);
    const std::vector<ProgramBuild>& builds() const { return builds_; }

    // The largest single buffer: CL_DEVICE_MAX_MEM_ALLOC_SIZE, or lower after limit_alloc (tests use it to exercise
    // splitting a weight across buffers without allocating gigabytes).
    uint64_t max_alloc_bytes() const { return max_alloc_; }
    void limit_alloc(uint64_t bytes);

    // Buffers. Sizes over max_alloc_bytes() throw naming the size, the limit and the device; size 0 is refused.
    Buffer alloc(size_t bytes, const std::string& what = "buffer");
    Buffer upload(const void* data, size_t bytes, const std::string& what = "buffer");  // blocking write
    void download(const Buffer& buffer, void* data, size_t bytes);                      // blocking read
    void write(const Buffer& buffer, size_t offset, const void* data, size_t bytes);    // blocking, into a range
    void read(const Buffer& buffer, size_t offset, void* data, size_t bytes);           // blocking, from a range
    void copy(const Buffer& from, size_t from_offset, const Buffer& to, size_t to_offset, size_t bytes);  // on the device
    void fill_zero(const Buffer& buffer, size_t bytes);                                 // on the device
    void finish();

    // Bytes moved between host and device by the calls above (uploads, downloads, write, read) since the last reset:
    // what the residency test and `gemma4 run --backend opencl` report.
    uint64_t bytes_uploaded() const { return bytes_up_; }
    uint64_t bytes_downloaded() const { return bytes_down_; }
    void reset_transfer_counts() { bytes_up_ = bytes_down_ = 0; }

    // Activation arguments of the ops (HostIo above); set_io(nullptr) restores upload / download per call.
    void set_io(HostIo* io) { io_ = io; }
    HostIo* io() const { return io_; }
    Buffer in(const void* host, size_t bytes, const std::string& what);
    Buffer out(void* host, size_t bytes, const std::string& what);
    Buffer inout(void* host, size_t bytes, const std::string& what);
    void done(const Buffer& buffer, void* host, size_t bytes);
    // The alignment (bytes) of a sub-buffer's origin: CL_DEVICE_MEM_BASE_ADDR_ALIGN / 8.
    size_t sub_buffer_align() const { return sub_align_; }

private:
    DeviceInfo info_;
    cl_device_id device_ = nullptr;
    cl_context context_ = nullptr;
    cl_command_queue queue_ = nullptr;
    uint64_t max_alloc_ = 0;
    size_t sub_align_ = 128;
    uint64_t bytes_up_ = 0, bytes_down_ = 0;
    HostIo* io_ = nullptr;
    std::string driver_version_;
    std::map<std::string, cl_program> programs_;
    std::map<std::string, cl_kernel> kernels_;  // "program/kernel"
    std::vector<ProgramBuild> builds_;
};

}  // namespace gemma4::cl
