// Owner of the shared precompiled header (<torch/torch.h>) that every libtorch target reuses
// (yz_use_torch_pch in CMakeLists.txt): parsing torch's headers once instead of once per
// translation unit is most of a clean build's time on 2 cores.
#include <torch/torch.h>
