// cl_devices.h — OpenCL platform and device discovery (what `gemma4 info --cl` prints, and what `--cl-device N`
// will index). The backend itself (kernels, buffers, program cache) is built on top of this in kernels/.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gemma4::cl {

struct DeviceInfo {
    int index = 0;                  // flat index over all platforms, the N of --cl-device N
    std::string platform;           // platform name ("Portable Computing Language")
    std::string name;               // device name
    std::string version;            // CL_DEVICE_VERSION
    std::string type;               // "CPU", "GPU", "accelerator", ...
    uint32_t compute_units = 0;
    uint64_t global_mem_bytes = 0;
    uint64_t max_alloc_bytes = 0;   // the per-buffer limit; weights larger than this are split
    uint64_t local_mem_bytes = 0;
    size_t max_work_group = 0;
};

// Every device of every platform. An absent ICD loader or no platform gives an empty list, not an error.
std::vector<DeviceInfo> list_devices();

// A readable name for an OpenCL error code ("CL_OUT_OF_RESOURCES"); "CL error N" for unknown codes.
const char* error_name(int code);

}  // namespace gemma4::cl
