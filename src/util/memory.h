// Host memory accounting for long jobs: current and peak resident set size of this process
// (Linux /proc), with a resettable peak so that each phase of a job can report its own.
#pragma once

#include <cstdint>

namespace yz {

int64_t current_rss_bytes();  // VmRSS
int64_t peak_rss_bytes();     // VmHWM since start or the last reset_peak_rss()
// Resets VmHWM to the current RSS (writes "5" to /proc/self/clear_refs); false if the kernel
// refuses, in which case peaks stay cumulative.
bool reset_peak_rss();

}  // namespace yz
