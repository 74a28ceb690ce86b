// libFuzzer target: the safetensors header parser must reject any byte string with yz::Error and
// never read out of bounds, crash or hang (built with ASan + UBSan).
#include <cstddef>
#include <cstdint>

#include "util/error.h"
#include "util/safetensors_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    yz::SafetensorsHeader h = yz::parse_safetensors_header(data, size, "fuzz");
    // Every accepted tensor must lie inside the buffer.
    for (const auto& [name, info] : h.tensors) {
      if (h.data_start + info.end > size) __builtin_trap();
    }
  } catch (const yz::Error&) {
  }
  return 0;
}
