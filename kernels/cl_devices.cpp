// cl_devices.cpp — platform and device enumeration through the OpenCL 1.2 C API (ICD loader from Debian).
#include "cl_devices.h"

#include <CL/cl.h>

namespace gemma4::cl {

namespace {

std::string platform_string(cl_platform_id p, cl_platform_info what) {
    size_t size = 0;
    if (clGetPlatformInfo(p, what, 0, nullptr, &size) != CL_SUCCESS || size == 0) return "";
    std::string s(size, '\0');
    clGetPlatformInfo(p, what, size, s.data(), nullptr);
    while (!s.empty() && s.back() == '\0') s.pop_back();
    return s;
}

std::string device_string(cl_device_id d, cl_device_info what) {
    size_t size = 0;
    if (clGetDeviceInfo(d, what, 0, nullptr, &size) != CL_SUCCESS || size == 0) return "";
    std::string s(size, '\0');
    clGetDeviceInfo(d, what, size, s.data(), nullptr);
    while (!s.empty() && s.back() == '\0') s.pop_back();
    return s;
}

template <typename T>
T device_value(cl_device_id d, cl_device_info what) {
    T v{};
    clGetDeviceInfo(d, what, sizeof(T), &v, nullptr);
    return v;
}

const char* type_name(cl_device_type t) {
    if (t & CL_DEVICE_TYPE_GPU) return "GPU";
    if (t & CL_DEVICE_TYPE_CPU) return "CPU";
    if (t & CL_DEVICE_TYPE_ACCELERATOR) return "accelerator";
    return "other";
}

}  // namespace

std::vector<DeviceInfo> list_devices() {
    std::vector<DeviceInfo> out;
    cl_uint num_platforms = 0;
    if (clGetPlatformIDs(0, nullptr, &num_platforms) != CL_SUCCESS || num_platforms == 0) return out;
    std::vector<cl_platform_id> platforms(num_platforms);
    clGetPlatformIDs(num_platforms, platforms.data(), nullptr);
    for (cl_platform_id p : platforms) {
        cl_uint num_devices = 0;
        if (clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 0, nullptr, &num_devices) != CL_SUCCESS || num_devices == 0)
            continue;
        std::vector<cl_device_id> devices(num_devices);
        clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, num_devices, devices.data(), nullptr);
        for (cl_device_id d : devices) {
            DeviceInfo info;
            info.index = static_cast<int>(out.size());
            info.platform = platform_string(p, CL_PLATFORM_NAME);
            info.name = device_string(d, CL_DEVICE_NAME);
            info.version = device_string(d, CL_DEVICE_VERSION);
            info.type = type_name(device_value<cl_device_type>(d, CL_DEVICE_TYPE));
            info.compute_units = device_value<cl_uint>(d, CL_DEVICE_MAX_COMPUTE_UNITS);
            info.global_mem_bytes = device_value<cl_ulong>(d, CL_DEVICE_GLOBAL_MEM_SIZE);
            info.max_alloc_bytes = device_value<cl_ulong>(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE);
            info.local_mem_bytes = device_value<cl_ulong>(d, CL_DEVICE_LOCAL_MEM_SIZE);
            info.max_work_group = device_value<size_t>(d, CL_DEVICE_MAX_WORK_GROUP_SIZE);
            out.push_back(std::move(info));
        }
    }
    return out;
}

const char* error_name(int code) {
    switch (code) {
#define GEMMA4_CL_ERR(name) \
    case name:              \
        return #name;
        GEMMA4_CL_ERR(CL_SUCCESS)
        GEMMA4_CL_ERR(CL_DEVICE_NOT_FOUND)
        GEMMA4_CL_ERR(CL_DEVICE_NOT_AVAILABLE)
        GEMMA4_CL_ERR(CL_COMPILER_NOT_AVAILABLE)
        GEMMA4_CL_ERR(CL_MEM_OBJECT_ALLOCATION_FAILURE)
        GEMMA4_CL_ERR(CL_OUT_OF_RESOURCES)
        GEMMA4_CL_ERR(CL_OUT_OF_HOST_MEMORY)
        GEMMA4_CL_ERR(CL_BUILD_PROGRAM_FAILURE)
        GEMMA4_CL_ERR(CL_MAP_FAILURE)
        GEMMA4_CL_ERR(CL_INVALID_VALUE)
        GEMMA4_CL_ERR(CL_INVALID_DEVICE)
        GEMMA4_CL_ERR(CL_INVALID_CONTEXT)
        GEMMA4_CL_ERR(CL_INVALID_COMMAND_QUEUE)
        GEMMA4_CL_ERR(CL_INVALID_MEM_OBJECT)
        GEMMA4_CL_ERR(CL_INVALID_BUILD_OPTIONS)
        GEMMA4_CL_ERR(CL_INVALID_PROGRAM)
        GEMMA4_CL_ERR(CL_INVALID_PROGRAM_EXECUTABLE)
        GEMMA4_CL_ERR(CL_INVALID_KERNEL_NAME)
        GEMMA4_CL_ERR(CL_INVALID_KERNEL)
        GEMMA4_CL_ERR(CL_INVALID_ARG_INDEX)
        GEMMA4_CL_ERR(CL_INVALID_ARG_VALUE)
        GEMMA4_CL_ERR(CL_INVALID_ARG_SIZE)
        GEMMA4_CL_ERR(CL_INVALID_KERNEL_ARGS)
        GEMMA4_CL_ERR(CL_INVALID_WORK_DIMENSION)
        GEMMA4_CL_ERR(CL_INVALID_WORK_GROUP_SIZE)
        GEMMA4_CL_ERR(CL_INVALID_WORK_ITEM_SIZE)
        GEMMA4_CL_ERR(CL_INVALID_GLOBAL_OFFSET)
        GEMMA4_CL_ERR(CL_INVALID_EVENT)
        GEMMA4_CL_ERR(CL_INVALID_OPERATION)
        GEMMA4_CL_ERR(CL_INVALID_BUFFER_SIZE)
        GEMMA4_CL_ERR(CL_INVALID_GLOBAL_WORK_SIZE)
#undef GEMMA4_CL_ERR
        default:
            return "CL error (unknown code)";
    }
}

}  // namespace gemma4::cl
