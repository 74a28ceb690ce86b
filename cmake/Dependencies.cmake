# Third-party dependencies, all from Debian packages (nothing is downloaded). Plain
# find_path/find_library so that a prefix given in CMAKE_PREFIX_PATH works without pkg-config
# (the GPU machine builds against a carried prefix, see tools/gpu_bundle.sh).
find_package(Torch REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(Threads REQUIRED)

# yz_find_c_library(TARGET HEADER LIBNAME): imported target for a C library.
function(yz_find_c_library target header libname)
  find_path(${target}_INCLUDE_DIR ${header})
  find_library(${target}_LIBRARY NAMES ${libname})
  if(NOT ${target}_INCLUDE_DIR OR NOT ${target}_LIBRARY)
    message(FATAL_ERROR "${target} not found (${header}, lib${libname}); scripts/setup.sh installs it")
  endif()
  add_library(yz::${target} UNKNOWN IMPORTED GLOBAL)
  set_target_properties(yz::${target} PROPERTIES IMPORTED_LOCATION ${${target}_LIBRARY}
                        INTERFACE_INCLUDE_DIRECTORIES ${${target}_INCLUDE_DIR})
endfunction()

yz_find_c_library(pcre2 pcre2.h pcre2-8)
yz_find_c_library(utf8proc utf8proc.h utf8proc)
yz_find_c_library(lzma lzma.h lzma)

if(YZ_BUILD_TESTS)
  find_package(GTest QUIET)
  if(NOT GTest_FOUND)
    # Debian's googletest package ships the sources; a carried copy works the same way.
    find_path(YZ_GTEST_SOURCE_DIR CMakeLists.txt PATHS /usr/src/googletest ${YZ_GTEST_SOURCE_DIR}
              NO_DEFAULT_PATH)
    if(NOT YZ_GTEST_SOURCE_DIR)
      message(FATAL_ERROR "GoogleTest not found; scripts/setup.sh installs libgtest-dev")
    endif()
    set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
    add_subdirectory(${YZ_GTEST_SOURCE_DIR} ${CMAKE_BINARY_DIR}/googletest EXCLUDE_FROM_ALL)
    add_library(GTest::gtest ALIAS gtest)
    add_library(GTest::gtest_main ALIAS gtest_main)
  endif()
endif()

# cpp-httplib as Debian builds it: a compiled library whose header only declares. The header
# must see the feature macros the library was built with (its pkg-config Cflags), and with them
# it includes OpenSSL's, zlib's and brotli's headers (libcpp-httplib-dev depends on all three).
find_path(httplib_INCLUDE_DIR httplib.h)
find_library(httplib_LIBRARY NAMES cpp-httplib)
find_path(httplib_OPENSSL_INCLUDE_DIR openssl/ssl.h)
find_path(httplib_ZLIB_INCLUDE_DIR zlib.h)
find_path(httplib_BROTLI_INCLUDE_DIR brotli/decode.h)
if(NOT httplib_INCLUDE_DIR OR NOT httplib_LIBRARY OR NOT httplib_OPENSSL_INCLUDE_DIR OR
   NOT httplib_ZLIB_INCLUDE_DIR OR NOT httplib_BROTLI_INCLUDE_DIR)
  message(FATAL_ERROR "cpp-httplib not found (httplib.h, libcpp-httplib and the OpenSSL, zlib and brotli "
                      "headers it includes); scripts/setup.sh installs libcpp-httplib-dev")
endif()
add_library(yz::httplib UNKNOWN IMPORTED GLOBAL)
set_target_properties(yz::httplib PROPERTIES IMPORTED_LOCATION ${httplib_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES
    "${httplib_INCLUDE_DIR};${httplib_OPENSSL_INCLUDE_DIR};${httplib_ZLIB_INCLUDE_DIR};${httplib_BROTLI_INCLUDE_DIR}"
  INTERFACE_COMPILE_DEFINITIONS
    "CPPHTTPLIB_OPENSSL_SUPPORT;CPPHTTPLIB_ZLIB_SUPPORT;CPPHTTPLIB_BROTLI_SUPPORT")
