// cl_runtime.cpp — ClContext, program building with the on-disk binary cache, buffers, CL_CHECK's error text.
// The cache key covers everything that can change a binary: device, driver, platform version, options, source.
#include "cl_runtime.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "cl_sources.h"  // generated: kEmbeddedClSources (kernels/CMakeLists.txt, embed_cl.cmake)
#include "error.h"

namespace gemma4::cl {

namespace fs = std::filesystem;

void throw_cl_error(int code, const char* expr, const char* file, int line) {
    throw Error(std::string(error_name(code)) + " from " + expr + " at " + fs::path(file).filename().string() + ":" +
                std::to_string(line));
}

// ---- sources ---------------------------------------------------------------------------------------------------

std::string kernel_source(const std::string& name) {
    if (const char* dir = std::getenv("GEMMA4_CL_DIR"); dir && *dir) {
        const fs::path path = fs::path(dir) / (name + ".cl");
        std::ifstream in(path, std::ios::binary);
        if (!in) throw Error("GEMMA4_CL_DIR is set but " + path.string() + " cannot be read");
        std::ostringstream text;
        text << in.rdbuf();
        return text.str();
    }
    for (const EmbeddedClSource& s : kEmbeddedClSources)
        if (name == s.name) return s.text;
    throw Error("no OpenCL kernel source named '" + name + "' (expected one of the kernels/*.cl files)");
}

std::vector<std::string> embedded_kernel_names() {
    std::vector<std::string> names;
    for (const EmbeddedClSource& s : kEmbeddedClSources) names.emplace_back(s.name);
    return names;
}

std::string binary_cache_dir() {
    if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return (fs::path(xdg) / "gemma4-ref" / "cl").string();
    if (const char* home = std::getenv("HOME"); home && *home)
        return (fs::path(home) / ".cache" / "gemma4-ref" / "cl").string();
    return "";
}

namespace {

// FNV-1a, 64 bit: a stable, dependency-free hash for cache file names (not for security).
uint64_t fnv1a(const std::string& text, uint64_t h = 0xcbf29ce484222325ull) {
    for (unsigned char c : text) {
        h ^= c;
        h *= 0x100000001b3ull;
    }
    return h;
}

std::string device_string(cl_device_id d, cl_device_info what) {
    size_t size = 0;
    CL_CHECK(clGetDeviceInfo(d, what, 0, nullptr, &size));
    std::string s(size, '\0');
    CL_CHECK(clGetDeviceInfo(d, what, size, s.data(), nullptr));
    while (!s.empty() && s.back() == '\0') s.pop_back();
    return s;
}

std::string build_log(cl_program program, cl_device_id device) {
    size_t size = 0;
    if (clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, 0, nullptr, &size) != CL_SUCCESS) return "";
    std::string log(size, '\0');
    clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, size, log.data(), nullptr);
    while (!log.empty() && (log.back() == '\0' || log.back() == '\n')) log.pop_back();
    return log;
}

std::vector<unsigned char> read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return {};
    return std::vector<unsigned char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Written to a temporary name and renamed, so a concurrent reader never sees half a binary. Failures are ignored:
// the cache only saves time.
void write_file_atomically(const fs::path& path, const std::vector<unsigned char>& bytes) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    const fs::path tmp = path.string() + ".tmp" + std::to_string(::getpid());
    {
        std::ofstream out(tmp, std::ios::binary);
        if (!out) return;
        out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
        if (!out) return;
    }
    fs::rename(tmp, path, ec);
    if (ec) fs::remove(tmp, ec);
}

std::string mib(uint64_t bytes) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
    return buf;
}

}  // namespace

// ---- Buffer ----------------------------------------------------------------------------------------------------

Buffer::~Buffer() {
    if (mem_) clReleaseMemObject(mem_);
}

Buffer::Buffer(Buffer&& other) noexcept : mem_(other.mem_), bytes_(other.bytes_) {
    other.mem_ = nullptr;
    other.bytes_ = 0;
}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
    if (this != &other) {
        if (mem_) clReleaseMemObject(mem_);
        mem_ = other.mem_;
        bytes_ = other.bytes_;
        other.mem_ = nullptr;
        other.bytes_ = 0;
    }
    return *this;
}

// ---- ClContext -------------------------------------------------------------------------------------------------

ClContext::ClContext(int device_index) {
    // Same enumeration order as list_devices(): platforms in order, every device of each.
    const std::vector<DeviceInfo> devices = list_devices();
    if (device_index < 0 || device_index >= static_cast<int>(devices.size()))
        throw Error("OpenCL device " + std::to_string(device_index) + " does not exist (" +
                    std::to_string(devices.size()) + " devices; see `gemma4 info --cl`)");
    info_ = devices[static_cast<size_t>(device_index)];

    cl_uint num_platforms = 0;
    CL_CHECK(clGetPlatformIDs(0, nullptr, &num_platforms));
    std::vector<cl_platform_id> platforms(num_platforms);
    CL_CHECK(clGetPlatformIDs(num_platforms, platforms.data(), nullptr));
    int flat = 0;
    for (cl_platform_id p : platforms) {
        cl_uint n = 0;
        if (clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 0, nullptr, &n) != CL_SUCCESS || n == 0) continue;
        std::vector<cl_device_id> ids(n);
        CL_CHECK(clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, n, ids.data(), nullptr));
        for (cl_device_id d : ids) {
            if (flat++ == device_index) device_ = d;
        }
    }
    if (!device_) throw Error("OpenCL device " + std::to_string(device_index) + " disappeared while opening it");

    cl_int err = CL_SUCCESS;
    context_ = clCreateContext(nullptr, 1, &device_, nullptr, nullptr, &err);
    CL_CHECK(err);
    queue_ = clCreateCommandQueue(context_, device_, 0, &err);  // in order, no profiling
    if (err != CL_SUCCESS) {
        clReleaseContext(context_);
        CL_CHECK(err);
    }
    max_alloc_ = info_.max_alloc_bytes;
    cl_uint align_bits = 0;
    if (clGetDeviceInfo(device_, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits, nullptr) == CL_SUCCESS && align_bits >= 8)
        sub_align_ = align_bits / 8;
    driver_version_ = device_string(device_, CL_DRIVER_VERSION);
}

ClContext::~ClContext() {
    for (auto& [name, k] : kernels_) clReleaseKernel(k);
    for (auto& [name, p] : programs_) clReleaseProgram(p);
    if (queue_) clReleaseCommandQueue(queue_);
    if (context_) clReleaseContext(context_);
}

cl_program ClContext::build_program(const std::string& label, const std::string& source) {
    const auto start = std::chrono::steady_clock::now();
    const std::string key_text =
        info_.platform + "\n" + info_.name + "\n" + info_.version + "\n" + driver_version_ + "\n" + kBuildOptions + "\n" + source;
    char hash[17];
    std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(fnv1a(key_text)));
    const std::string cache_dir = binary_cache_dir();
    const fs::path cache_file = cache_dir.empty() ? fs::path() : fs::path(cache_dir) / (label + "-" + hash + ".bin");

    auto record = [&](bool from_cache) {
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        builds_.push_back({label, s, from_cache});
    };

    // 1. The cached binary, if there is one and the driver accepts it (a driver update or a truncated file makes
    //    clCreateProgramWithBinary or clBuildProgram fail; then we rebuild from source and overwrite it).
    if (!cache_file.empty()) {
        const std::vector<unsigned char> binary = read_file(cache_file);
        if (!binary.empty()) {
            const unsigned char* ptr = binary.data();
            const size_t size = binary.size();
            cl_int status = CL_SUCCESS, err = CL_SUCCESS;
            cl_program program = clCreateProgramWithBinary(context_, 1, &device_, &size, &ptr, &status, &err);
            if (err == CL_SUCCESS && status == CL_SUCCESS) {
                if (clBuildProgram(program, 1, &device_, kBuildOptions, nullptr, nullptr) == CL_SUCCESS) {
                    record(true);
                    return program;
                }
            }
            if (program) clReleaseProgram(program);
        }
    }

    // 2. From source.
    const char* text = source.c_str();
    const size_t length = source.size();
    cl_int err = CL_SUCCESS;
    cl_program program = clCreateProgramWithSource(context_, 1, &text, &length, &err);
    CL_CHECK(err);
    err = clBuildProgram(program, 1, &device_, kBuildOptions, nullptr, nullptr);
    if (err != CL_SUCCESS) {
        const std::string log = build_log(program, device_);
        clReleaseProgram(program);
        throw Error("OpenCL program " + label + ".cl failed to build on " + info_.name + " (" + error_name(err) +
                    ", options " + kBuildOptions + "); build log:\n" + log);
    }

    // 3. Keep its binary for the next start.
    if (!cache_file.empty()) {
        size_t size = 0;
        if (clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, nullptr) == CL_SUCCESS && size > 0) {
            std::vector<unsigned char> binary(size);
            unsigned char* ptr = binary.data();
            if (clGetProgramInfo(program, CL_PROGRAM_BINARIES, sizeof ptr, &ptr, nullptr) == CL_SUCCESS)
                write_file_atomically(cache_file, binary);
        }
    }
    record(false);
    return program;
}

cl_program ClContext::program(const std::string& name) {
    if (auto it = programs_.find(name); it != programs_.end()) return it->second;
    cl_program p = build_program(name, kernel_source(name));
    programs_[name] = p;
    return p;
}

cl_kernel ClContext::kernel(const std::string& program_name, const std::string& kernel_name) {
    const std::string key = program_name + "/" + kernel_name;
    if (auto it = kernels_.find(key); it != kernels_.end()) return it->second;
    cl_int err = CL_SUCCESS;
    cl_kernel k = clCreateKernel(program(program_name), kernel_name.c_str(), &err);
    if (err != CL_SUCCESS)
        throw Error(std::string(error_name(err)) + ": no kernel '" + kernel_name + "' in " + program_name + ".cl");
    kernels_[key] = k;
    return k;
}

void ClContext::limit_alloc(uint64_t bytes) {
    if (bytes > 0 && bytes < info_.max_alloc_bytes) max_alloc_ = bytes;
}

Buffer ClContext::alloc(size_t bytes, const std::string& what) {
    if (bytes == 0) throw Error("OpenCL " + what + ": a buffer of 0 bytes cannot be created");
    if (bytes > max_alloc_)
        throw Error("OpenCL " + what + " of " + std::to_string(bytes) + " bytes (" + mib(bytes) +
                    ") exceeds CL_DEVICE_MAX_MEM_ALLOC_SIZE of " + std::to_string(max_alloc_) + " bytes (" +
                    mib(max_alloc_) + ") on " + info_.name);
    cl_int err = CL_SUCCESS;
    cl_mem mem = clCreateBuffer(context_, CL_MEM_READ_WRITE, bytes, nullptr, &err);
    if (err != CL_SUCCESS)
        throw Error(std::string(error_name(err)) + " creating OpenCL " + what + " of " + std::to_string(bytes) +
                    " bytes (" + mib(bytes) + ") on " + info_.name);
    return Buffer(mem, bytes);
}

Buffer ClContext::upload(const void* data, size_t bytes, const std::string& what) {
    Buffer b = alloc(bytes, what);
    CL_CHECK(clEnqueueWriteBuffer(queue_, b.mem(), CL_TRUE, 0, bytes, data, 0, nullptr, nullptr));
    bytes_up_ += bytes;
    return b;
}

void ClContext::download(const Buffer& buffer, void* data, size_t bytes) {
    if (bytes > buffer.bytes())
        throw Error("OpenCL download of " + std::to_string(bytes) + " bytes from a buffer of " +
                    std::to_string(buffer.bytes()));
    CL_CHECK(clEnqueueReadBuffer(queue_, buffer.mem(), CL_TRUE, 0, bytes, data, 0, nullptr, nullptr));
    bytes_down_ += bytes;
}

void ClContext::write(const Buffer& buffer, size_t offset, const void* data, size_t bytes) {
    if (bytes == 0) return;
    if (offset + bytes > buffer.bytes())
        throw Error("OpenCL write of " + std::to_string(bytes) + " bytes at " + std::to_string(offset) + " into a buffer of " +
                    std::to_string(buffer.bytes()));
    CL_CHECK(clEnqueueWriteBuffer(queue_, buffer.mem(), CL_TRUE, offset, bytes, data, 0, nullptr, nullptr));
    bytes_up_ += bytes;
}

void ClContext::read(const Buffer& buffer, size_t offset, void* data, size_t bytes) {
    if (bytes == 0) return;
    if (offset + bytes > buffer.bytes())
        throw Error("OpenCL read of " + std::to_string(bytes) + " bytes at " + std::to_string(offset) + " from a buffer of " +
                    std::to_string(buffer.bytes()));
    CL_CHECK(clEnqueueReadBuffer(queue_, buffer.mem(), CL_TRUE, offset, bytes, data, 0, nullptr, nullptr));
    bytes_down_ += bytes;
}

void ClContext::copy(const Buffer& from, size_t from_offset, const Buffer& to, size_t to_offset, size_t bytes) {
    if (bytes == 0) return;
    CL_CHECK(clEnqueueCopyBuffer(queue_, from.mem(), to.mem(), from_offset, to_offset, bytes, 0, nullptr, nullptr));
}

void ClContext::fill_zero(const Buffer& buffer, size_t bytes) {
    if (bytes == 0) return;
    const cl_float zero = 0.0f;
    CL_CHECK(clEnqueueFillBuffer(queue_, buffer.mem(), &zero, sizeof zero, 0, bytes, 0, nullptr, nullptr));
}

Buffer ClContext::in(const void* host, size_t bytes, const std::string& what) {
    return io_ ? io_->in(host, bytes, what) : upload(host, bytes, what);
}
Buffer ClContext::out(void* host, size_t bytes, const std::string& what) { return io_ ? io_->out(host, bytes, what) : alloc(bytes, what); }
Buffer ClContext::inout(void* host, size_t bytes, const std::string& what) {
    return io_ ? io_->inout(host, bytes, what) : upload(host, bytes, what);
}
void ClContext::done(const Buffer& buffer, void* host, size_t bytes) {
    if (io_) io_->done(buffer, host, bytes);
    else download(buffer, host, bytes);
}

void ClContext::finish() { CL_CHECK(clFinish(queue_)); }

}  // namespace gemma4::cl
